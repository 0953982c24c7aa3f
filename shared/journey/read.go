package journey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/dcrm-project/dcrm/shared/archive"
)

// Store is where the archive's files are: an S3 bucket (an adapter over the SDK's ListObjectsV2
// and GetObject), a folder (FSStore) or anything with keys.
type Store interface {
	// List returns the keys under prefix, in any order.
	List(ctx context.Context, prefix string) ([]string, error)
	// Get returns the whole object.
	Get(ctx context.Context, key string) ([]byte, error)
}

// FSStore is a Store over a file system laid out as the bucket is (events/dt=…/part-….parquet).
type FSStore struct{ FS fs.FS }

// List walks the folder of prefix.
func (s FSStore) List(_ context.Context, prefix string) ([]string, error) {
	dir := strings.TrimSuffix(path.Dir(prefix+"x"), "/")
	var keys []string
	err := fs.WalkDir(s.FS, dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(p, prefix) {
			keys = append(keys, p)
		}
		return nil
	})
	return keys, err
}

// Get reads a file.
func (s FSStore) Get(_ context.Context, key string) ([]byte, error) { return fs.ReadFile(s.FS, key) }

// eventColumns are the columns of the events table that journeys read: a Parquet reader decodes
// only these (the JSON context and traits, most of a row's bytes, are never read).
type eventColumns struct {
	Type           string    `parquet:"type"`
	Event          string    `parquet:"event,optional"`
	Name           string    `parquet:"name,optional"`
	MessageID      string    `parquet:"messageId"`
	AnonymousID    string    `parquet:"anonymousId,optional"`
	UserID         string    `parquet:"userId,optional"`
	ProfileID      string    `parquet:"profileId,optional"`
	Timestamp      time.Time `parquet:"timestamp,timestamp(millisecond)"`
	Properties     string    `parquet:"properties,optional"`
	Pixel          bool      `parquet:"pixel"`
	Channel        string    `parquet:"channel,optional"`
	CampaignSource string    `parquet:"campaignSource,optional"`
	CampaignMedium string    `parquet:"campaignMedium,optional"`
	CampaignName   string    `parquet:"campaignName,optional"`
	CampaignID     string    `parquet:"campaignId,optional"`
	ClickID        string    `parquet:"clickId,optional"`
	DeviceClass    string    `parquet:"deviceClass,optional"`
	IsBot          bool      `parquet:"isBot"`
}

func (c *eventColumns) row() archive.Event {
	return archive.Event{
		Type: c.Type, Event: c.Event, Name: c.Name, MessageID: c.MessageID, AnonymousID: c.AnonymousID, UserID: c.UserID,
		ProfileID: c.ProfileID, Timestamp: c.Timestamp, Properties: c.Properties, Pixel: c.Pixel, Channel: c.Channel,
		CampaignSource: c.CampaignSource, CampaignMedium: c.CampaignMedium, CampaignName: c.CampaignName,
		CampaignID: c.CampaignID, ClickID: c.ClickID, DeviceClass: c.DeviceClass, IsBot: c.IsBot,
	}
}

// Days bound the partitions read: dates YYYY-MM-DD, both included; "" leaves that end open.
type Days struct{ From, To string }

// DaysOf are the partitions that hold the events of conversions between since and until and the
// touches of their lookback.
func DaysOf(since, until time.Time, lookback time.Duration) Days {
	var d Days
	if !since.IsZero() {
		d.From = since.Add(-lookback).UTC().Format(time.DateOnly)
	}
	if !until.IsZero() {
		d.To = until.UTC().Format(time.DateOnly)
	}
	return d
}

func (d Days) holds(dt string) bool {
	return (d.From == "" || dt >= d.From) && (d.To == "" || dt <= d.To)
}

// ReadEvents reads the events files of the days, file by file in key order, a row group at a
// time, and hands each row to fn (only the columns journeys use are filled). Memory: one file and
// a batch of rows.
func ReadEvents(ctx context.Context, s Store, days Days, fn func(archive.Event) error) error {
	keys, err := tableKeys(ctx, s, archive.EventsTable, func(dt string) bool { return days.holds(dt) })
	if err != nil {
		return err
	}
	buf := make([]eventColumns, 1024)
	for _, key := range keys {
		body, err := s.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		r := parquet.NewGenericReader[eventColumns](bytes.NewReader(body))
		for {
			n, err := r.Read(buf)
			for i := range n {
				if ferr := fn(buf[i].row()); ferr != nil {
					r.Close()
					return ferr
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return fmt.Errorf("read %s: %w", key, err)
			}
		}
		if err := r.Close(); err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
	return nil
}

// ReadMerges reads the merges table's latest snapshot.
func ReadMerges(ctx context.Context, s Store) ([]archive.Merge, error) {
	return readLatest[archive.Merge](ctx, s, archive.MergesTable)
}

// ReadProfiles reads the profiles table's latest snapshot (for segments).
func ReadProfiles(ctx context.Context, s Store) ([]archive.Profile, error) {
	return readLatest[archive.Profile](ctx, s, archive.ProfilesTable)
}

func readLatest[T any](ctx context.Context, s Store, table string) ([]T, error) {
	keys, err := tableKeys(ctx, s, table, func(string) bool { return true })
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	t, _ := archive.TableNamed(table)
	latest := ""
	for _, k := range keys {
		_, dt, _, _ := archive.ParseKey(k)
		latest = max(latest, dt)
	}
	var rows []T
	for _, k := range keys {
		if _, dt, _, _ := archive.ParseKey(k); dt != latest {
			continue
		}
		body, err := s.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", k, err)
		}
		got, err := parquet.Read[T](bytes.NewReader(body), int64(len(body)))
		if err != nil {
			return nil, fmt.Errorf("read %s %s: %w", t.Name, k, err)
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

// tableKeys lists a table's files of the partitions keep says yes to, sorted.
func tableKeys(ctx context.Context, s Store, table string, keep func(dt string) bool) ([]string, error) {
	t, ok := archive.TableNamed(table)
	if !ok {
		return nil, fmt.Errorf("no table %q", table)
	}
	all, err := s.List(ctx, t.Prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.Prefix, err)
	}
	var keys []string
	for _, k := range all {
		kt, dt, _, ok := archive.ParseKey(k)
		if ok && kt.Name == t.Name && keep(dt) && strings.HasSuffix(k, ".parquet") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

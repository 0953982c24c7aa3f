package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The archive feed carries events from stitch to the archive function: each event that stitch
// recorded is one line of JSON, its Event row (the columns' names, an absent value left out),
// packed into records of whole lines that a delivery stream gathers into objects. Being the row
// itself, a line is also what a Glue table's JSON reader would take.

// MaxFeedRecord is the most bytes of one record of the feed: Data Firehose's limit on a record
// (1,000 KiB). A line is never longer (events are bounded far below it by the endpoint).
const MaxFeedRecord = 1000 << 10

// ErrLineTooLong is returned for a row whose line would not fit in a record.
var ErrLineTooLong = errors.New("archive: feed line longer than a record")

// FeedRecords packs the rows' lines into records of at most MaxFeedRecord bytes, each made of
// whole lines in the rows' order. first[i] is the index of the first row in records[i], so that a
// record that cannot be delivered names the rows it carried.
func FeedRecords(rows []Event) (records [][]byte, first []int, err error) {
	var cur []byte
	start := 0
	for i, r := range rows {
		line, err := json.Marshal(r)
		if err != nil {
			return nil, nil, fmt.Errorf("archive: encode row %d: %w", i, err)
		}
		line = append(line, '\n')
		if len(line) > MaxFeedRecord {
			return nil, nil, fmt.Errorf("%w: row %d (message %q) takes %d bytes", ErrLineTooLong, i, r.MessageID, len(line))
		}
		if len(cur)+len(line) > MaxFeedRecord {
			records, first = append(records, cur), append(first, start)
			cur, start = nil, i
		}
		cur = append(cur, line...)
	}
	if len(cur) > 0 {
		records, first = append(records, cur), append(first, start)
	}
	return records, first, nil
}

// ErrBadLine is wrapped by the error ReadFeed gives a line it cannot take.
var ErrBadLine = errors.New("archive: bad feed line")

// ReadFeed reads the lines of a feed object in order, calling row for each row and bad for each
// line that is not one (not JSON of a row, or without a type, message id or timestamp; blank
// lines are skipped), with its 1-based number and its text (valid only during the call). A line
// longer than MaxFeedRecord is bad, given without its text, and never held in memory whole. It
// stops at the first error from row, or from r.
func ReadFeed(r io.Reader, row func(Event) error, bad func(line int, text []byte, err error)) error {
	return eachLine(r, func(n int, line []byte, long bool) error {
		switch {
		case long:
			bad(n, nil, fmt.Errorf("%w: longer than %d bytes", ErrBadLine, MaxFeedRecord))
		case len(bytes.TrimSpace(line)) > 0:
			e, err := parseFeedLine(line)
			if err != nil {
				bad(n, line, err)
				return nil
			}
			return row(e)
		}
		return nil
	})
}

// eachLine calls fn with each line of r in order (without its newline, valid only during the call)
// and its 1-based number; a line longer than MaxFeedRecord is given as long, without its text, and
// never held in memory whole. It stops at the first error from fn, or from r.
func eachLine(r io.Reader, fn func(n int, line []byte, long bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for n := 1; ; n++ {
		line, long, err := readLine(br, buf[:0])
		buf = line
		if err != nil && err != io.EOF {
			return fmt.Errorf("archive: read feed, line %d: %w", n, err)
		}
		if err == io.EOF && len(line) == 0 && !long {
			return nil
		}
		if ferr := fn(n, line, long); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
	}
}

// parseFeedLine reads a line of the feed as its row, or says why it is not one (JSON of a row,
// with a type, a message id and a timestamp).
func parseFeedLine(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrBadLine, err)
	}
	if e.Type == "" || e.MessageID == "" || e.Timestamp.IsZero() {
		return Event{}, fmt.Errorf("%w: no type, messageId or timestamp", ErrBadLine)
	}
	return e, nil
}

// readLine reads one line (without its newline) into buf; long tells that it was over
// MaxFeedRecord, in which case the rest of it was read and dropped.
func readLine(br *bufio.Reader, buf []byte) (line []byte, long bool, err error) {
	for {
		part, isPrefix, err := br.ReadLine()
		if !long {
			if len(buf)+len(part) > MaxFeedRecord {
				long, buf = true, buf[:0]
			} else {
				buf = append(buf, part...)
			}
		}
		if err != nil || !isPrefix {
			return buf, long, err
		}
	}
}

package profilestore

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/guregu/dynamo/v2"
)

// Models.
//
// ModelStore keeps fitted models in the Models table (partition key "name"), each as a versioned
// JSON document. A document is compressed (gzip) and cut into parts of at most modelPartSize bytes,
// stored as "<name>#v<version>#<part>", because a co-occurrence model can outgrow DynamoDB's 400 KB
// item limit; the item "<name>" points at the current version. Saving writes the parts first and
// then moves the pointer, only if it still points at the version the saver read, so a reader never
// sees half a document and two fits never both win. The parts of the version before the previous
// one are deleted then; readers that read the pointer just before the move still find theirs.

// ErrNoModels is returned by Load when no version of the models was saved yet.
var ErrNoModels = errors.New("no models stored")

// modelPartSize leaves room in each part item for its name and overhead under the 400 KB limit.
const modelPartSize = 350 << 10

type modelHead struct {
	Name      string    `dynamo:"name,hash"`
	Version   int       `dynamo:"version"`
	Parts     int       `dynamo:"parts"`
	PrevParts int       `dynamo:"prevParts"` // parts of the version before, deleted at the next save
	Bytes     int       `dynamo:"bytes"`     // the document, uncompressed
	FittedAt  time.Time `dynamo:"fittedAt,omitempty"`
	Sample    int       `dynamo:"sample"`
	SavedAt   time.Time `dynamo:"savedAt"`
}

type modelPart struct {
	Name string `dynamo:"name,hash"`
	Data []byte `dynamo:"data"`
}

// ModelInfo describes a stored version: what a person looking at the table sees beside the
// document.
type ModelInfo struct {
	Version  int
	FittedAt time.Time
	Sample   int // profiles the fit read
	Bytes    int // the JSON document
	SavedAt  time.Time
}

// ModelStore keeps versioned model documents.
type ModelStore struct {
	table dynamo.Table
	now   func() time.Time
}

// NewModelStore returns the store over the Models table of that physical name.
func NewModelStore(db *dynamo.DB, table string) *ModelStore {
	return &ModelStore{table: db.Table(table), now: time.Now}
}

func partName(name string, version, part int) string {
	return fmt.Sprintf("%s#v%d#%d", name, version, part)
}

// Save stores doc (JSON-encoded) as version info.Version of name, which must follow the version
// stored (1 when none is). It returns ErrChanged when another save got there first.
func (m *ModelStore) Save(ctx context.Context, name string, doc any, info ModelInfo) error {
	raw, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode models %s: %w", name, err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(raw); err != nil {
		return fmt.Errorf("compress models %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress models %s: %w", name, err)
	}
	var prev modelHead
	err = m.table.Get("name", name).Consistent(true).One(ctx, &prev)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return fmt.Errorf("read models %s: %w", name, err)
	}
	if prev.Version != info.Version-1 {
		return fmt.Errorf("save models %s version %d: version %d is stored: %w", name, info.Version, prev.Version, ErrChanged)
	}
	data := z.Bytes()
	parts := 0
	for len(data) > 0 || parts == 0 {
		n := min(len(data), modelPartSize)
		if err := m.table.Put(modelPart{Name: partName(name, info.Version, parts), Data: data[:n]}).Run(ctx); err != nil {
			return fmt.Errorf("save models %s version %d part %d: %w", name, info.Version, parts, err)
		}
		data = data[n:]
		parts++
	}
	head := modelHead{Name: name, Version: info.Version, Parts: parts, PrevParts: prev.Parts, Bytes: len(raw),
		FittedAt: info.FittedAt.UTC(), Sample: info.Sample, SavedAt: m.now().UTC()}
	put := m.table.Put(head)
	if prev.Version == 0 {
		put = put.If("attribute_not_exists('name')")
	} else {
		put = put.If("'version' = ?", prev.Version)
	}
	if err := put.Run(ctx); dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("save models %s version %d: %w", name, info.Version, ErrChanged)
	} else if err != nil {
		return fmt.Errorf("save models %s version %d: %w", name, info.Version, err)
	}
	for i := range prev.PrevParts { // the version before the previous one: no reader needs it now
		if err := m.table.Delete("name", partName(name, prev.Version-1, i)).Run(ctx); err != nil {
			return fmt.Errorf("delete models %s version %d: %w", name, prev.Version-1, err)
		}
	}
	return nil
}

// Load reads the current version of name into doc (JSON-decoded). It returns ErrNoModels when
// none was saved.
func (m *ModelStore) Load(ctx context.Context, name string, doc any) (ModelInfo, error) {
	var err error
	for range 3 { // a part goes missing only if two saves happened since the pointer was read
		var head modelHead
		if err = m.table.Get("name", name).One(ctx, &head); errors.Is(err, dynamo.ErrNotFound) {
			return ModelInfo{}, fmt.Errorf("load models %s: %w", name, ErrNoModels)
		} else if err != nil {
			return ModelInfo{}, fmt.Errorf("load models %s: %w", name, err)
		}
		var z bytes.Buffer
		for i := range head.Parts {
			var part modelPart
			if err = m.table.Get("name", partName(name, head.Version, i)).One(ctx, &part); err != nil {
				break
			}
			z.Write(part.Data)
		}
		if errors.Is(err, dynamo.ErrNotFound) {
			continue
		}
		if err != nil {
			return ModelInfo{}, fmt.Errorf("load models %s version %d: %w", name, head.Version, err)
		}
		zr, err := gzip.NewReader(&z)
		if err != nil {
			return ModelInfo{}, fmt.Errorf("load models %s version %d: %w", name, head.Version, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			return ModelInfo{}, fmt.Errorf("load models %s version %d: %w", name, head.Version, err)
		}
		if err := json.Unmarshal(raw, doc); err != nil {
			return ModelInfo{}, fmt.Errorf("decode models %s version %d: %w", name, head.Version, err)
		}
		return ModelInfo{Version: head.Version, FittedAt: head.FittedAt, Sample: head.Sample, Bytes: head.Bytes, SavedAt: head.SavedAt}, nil
	}
	return ModelInfo{}, fmt.Errorf("load models %s: parts kept disappearing: %w", name, err)
}

// Version is the current version of name without reading the document; 0 when none was saved.
func (m *ModelStore) Version(ctx context.Context, name string) (int, error) {
	var head modelHead
	err := m.table.Get("name", name).One(ctx, &head)
	if errors.Is(err, dynamo.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read models %s: %w", name, err)
	}
	return head.Version, nil
}

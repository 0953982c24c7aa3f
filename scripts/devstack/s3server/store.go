package s3server

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Store is a gofakes3.Backend that keeps each object in a file of its own under a folder:
// <dir>/<bucket>/<sha256 of the key>.data beside a .meta JSON file with the key, size, ETag and
// metadata. Only an index of the keys (key, size, ETag, time: some 100 bytes an object) is held in
// memory, so memory stays flat however large the objects, and the objects are still there after
// a restart. Naming files by the key's hash rather than by the key keeps any S3 key storable (a
// key may be 1,024 bytes, hold "..", or be both "a" and a prefix of "a/b", which paths cannot).
// An object is written to a temporary file and renamed into place: a reader never sees half of
// one, and one still being read keeps its old contents.
type Store struct {
	dir string
	now func() time.Time

	mu      sync.RWMutex
	buckets map[string]*bucket
}

type bucket struct {
	created time.Time
	objects map[string]*entry // by key
	keys    []string          // the objects' keys in order, for listings
}

// add indexes an entry, replacing that of its key.
func (b *bucket) add(e *entry) {
	if b.objects[e.Key] == nil {
		i, _ := slices.BinarySearch(b.keys, e.Key)
		b.keys = slices.Insert(b.keys, i, e.Key)
	}
	b.objects[e.Key] = e
}

func (b *bucket) remove(key string) {
	if i, found := slices.BinarySearch(b.keys, key); found {
		b.keys = slices.Delete(b.keys, i, i+1)
	}
	delete(b.objects, key)
}

// entry is what the index and the .meta file know of an object.
type entry struct {
	Key      string            `json:"key"`
	Size     int64             `json:"size"`
	ETag     string            `json:"etag"` // without quotes: hex MD5, or "<hex>-<parts>" for a multipart upload
	Modified time.Time         `json:"modified"`
	Meta     map[string]string `json:"meta,omitempty"`
}

var _ gofakes3.Backend = (*Store)(nil)

// OpenStore opens (creating it if need be) the store in dir and reads its index.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{dir: dir, now: time.Now, buckets: map[string]*bucket{}}
	dirs, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || gofakes3.ValidateBucketName(d.Name()) != nil {
			continue
		}
		b, err := s.load(d.Name())
		if err != nil {
			return nil, fmt.Errorf("open store: bucket %s: %w", d.Name(), err)
		}
		s.buckets[d.Name()] = b
	}
	return s, nil
}

// load reads a bucket's index from its .meta files, removing what a crash left half written.
func (s *Store) load(name string) (*bucket, error) {
	path := filepath.Join(s.dir, name)
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	b := &bucket{created: info.ModTime(), objects: map[string]*entry{}}
	files, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		n := f.Name()
		switch {
		case strings.HasPrefix(n, "tmp-"):
			_ = os.Remove(filepath.Join(path, n))
		case strings.HasSuffix(n, ".meta"):
			raw, err := os.ReadFile(filepath.Join(path, n))
			if err != nil {
				return nil, err
			}
			var e entry
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, fmt.Errorf("%s: %w", n, err)
			}
			b.add(&e)
		}
	}
	return b, nil
}

func (s *Store) file(bucket, key, ext string) string {
	h := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, bucket, hex.EncodeToString(h[:])+ext)
}

func (s *Store) bucket(name string) (*bucket, error) {
	b := s.buckets[name]
	if b == nil {
		return nil, gofakes3.BucketNotFound(name)
	}
	return b, nil
}

// ListBuckets lists the buckets by name.
func (s *Store) ListBuckets() ([]gofakes3.BucketInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []gofakes3.BucketInfo
	for _, name := range slices.Sorted(maps.Keys(s.buckets)) {
		out = append(out, gofakes3.BucketInfo{Name: name, CreationDate: gofakes3.NewContentTime(s.buckets[name].created)})
	}
	return out, nil
}

// ListBucket lists a page of the bucket's keys in order, after page.Marker, as S3 does: keys with
// the prefix, those sharing a part up to the delimiter rolled up into one common prefix (which
// counts as one key towards MaxKeys and is the next marker when it ends a page).
func (s *Store) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	if prefix == nil {
		prefix = &gofakes3.Prefix{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, err := s.bucket(name)
	if err != nil {
		return nil, err
	}
	keys := b.keys
	start, _ := slices.BinarySearch(keys, page.Marker)
	if page.HasMarker && start < len(keys) && keys[start] == page.Marker {
		start++
	}
	out := gofakes3.NewObjectList()
	var count int64
	var match gofakes3.PrefixMatch
	for i := start; i < len(keys); i++ {
		k := keys[i]
		if !prefix.Match(k, &match) {
			continue
		}
		// A marker that is a common prefix ended the last page on it: its keys were listed as it.
		if match.CommonPrefix && (page.HasMarker && match.MatchedPart == page.Marker ||
			len(out.CommonPrefixes) > 0 && out.CommonPrefixes[len(out.CommonPrefixes)-1].Prefix == match.MatchedPart) {
			continue
		}
		if page.MaxKeys > 0 && count == page.MaxKeys {
			out.IsTruncated = true
			break
		}
		if match.CommonPrefix {
			out.AddPrefix(match.MatchedPart)
			out.NextMarker = match.MatchedPart
		} else {
			e := b.objects[k]
			out.Add(&gofakes3.Content{Key: k, LastModified: gofakes3.NewContentTime(e.Modified), ETag: `"` + e.ETag + `"`, Size: e.Size})
			out.NextMarker = k
		}
		count++
	}
	if !out.IsTruncated {
		out.NextMarker = ""
	}
	return out, nil
}

// CreateBucket creates an empty bucket.
func (s *Store) CreateBucket(name string) error {
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] != nil {
		return gofakes3.ResourceError(gofakes3.ErrBucketAlreadyExists, name)
	}
	if err := os.Mkdir(filepath.Join(s.dir, name), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	s.buckets[name] = &bucket{created: s.now(), objects: map[string]*entry{}}
	return nil
}

// BucketExists tells whether the bucket exists.
func (s *Store) BucketExists(name string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.buckets[name] != nil, nil
}

// DeleteBucket deletes an empty bucket.
func (s *Store) DeleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(name)
	if err != nil {
		return err
	}
	if len(b.objects) > 0 {
		return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
	}
	delete(s.buckets, name)
	return os.RemoveAll(filepath.Join(s.dir, name))
}

// ForceDeleteBucket deletes a bucket and its objects.
func (s *Store) ForceDeleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucket(name); err != nil {
		return err
	}
	delete(s.buckets, name)
	return os.RemoveAll(filepath.Join(s.dir, name))
}

func (s *Store) entry(bucketName, key string) (*entry, error) {
	b, err := s.bucket(bucketName)
	if err != nil {
		return nil, err
	}
	e := b.objects[key]
	if e == nil {
		return nil, gofakes3.KeyNotFound(key)
	}
	return e, nil
}

// object is the gofakes3 view of an entry. Its hash is the MD5 when it is one; gofakes3 prints it
// as the ETag, and the server puts a multipart upload's ETag back (etagHeader).
func (e *entry) object(contents io.ReadCloser) *gofakes3.Object {
	meta := maps.Clone(e.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	meta["Last-Modified"] = e.Modified.UTC().Format(http1123)
	hash, err := hex.DecodeString(e.ETag)
	if err != nil {
		meta[etagHeader] = `"` + e.ETag + `"`
	}
	return &gofakes3.Object{Name: e.Key, Metadata: meta, Size: e.Size, Contents: contents, Hash: hash}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

// HeadObject describes an object.
func (s *Store) HeadObject(bucketName, key string) (*gofakes3.Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.entry(bucketName, key)
	if err != nil {
		return nil, err
	}
	return e.object(io.NopCloser(strings.NewReader(""))), nil
}

// GetObject opens an object (or the requested range of it) for reading.
func (s *Store) GetObject(bucketName, key string, rangeRequest *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	s.mu.RLock()
	e, err := s.entry(bucketName, key)
	var f *os.File
	if err == nil {
		// Opened under the lock: a rename that replaces the object afterwards leaves this file as it was.
		f, err = os.Open(s.file(bucketName, key, ".data"))
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	obj := e.object(f)
	rng, err := rangeRequest.Range(e.Size)
	if err != nil {
		f.Close()
		return nil, err
	}
	if rng != nil {
		if _, err := f.Seek(rng.Start, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		obj.Range = rng
		obj.Contents = readCloser{io.LimitReader(f, rng.Length), f}
	}
	return obj, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// PutObject writes an object from input, replacing any of that key (and its metadata, as S3 does).
func (s *Store) PutObject(bucketName, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	_, err := s.put(bucketName, key, meta, input, size, conditions, "")
	return gofakes3.PutObjectResult{}, err
}

// put writes the object and returns its entry. etag, when set, is the ETag to keep (a multipart
// upload's); otherwise it is the contents' MD5.
func (s *Store) put(bucketName, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions, etag string) (*entry, error) {
	if ok, _ := s.BucketExists(bucketName); !ok {
		return nil, gofakes3.BucketNotFound(bucketName)
	}
	tmp, err := s.tempFile(bucketName)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // gone once renamed; removed if anything fails
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), input)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if size >= 0 && n != size {
		return nil, gofakes3.ErrIncompleteBody
	}
	if etag == "" {
		etag = hex.EncodeToString(h.Sum(nil))
	}
	e := &entry{Key: key, Size: n, ETag: etag, Modified: s.now().UTC(), Meta: storedMeta(meta)}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(bucketName)
	if err != nil {
		return nil, err
	}
	if conditions != nil {
		info := &gofakes3.ConditionalObjectInfo{}
		if old := b.objects[key]; old != nil {
			info.Exists = true
			info.Hash, _ = hex.DecodeString(old.ETag)
		}
		if err := gofakes3.CheckPutConditions(conditions, info); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(tmp.Name(), s.file(bucketName, key, ".data")); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(s.file(bucketName, key, ".meta"), raw); err != nil {
		return nil, err
	}
	b.add(e)
	return e, nil
}

// storedMeta keeps what S3 keeps of a request's headers: the content headers and the user's
// x-amz-meta-*, not the request's signature, date or checksum headers.
func storedMeta(meta map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range meta {
		switch lk := strings.ToLower(k); {
		case strings.HasPrefix(lk, "x-amz-meta-"), lk == "content-type", lk == "content-disposition", lk == "content-encoding",
			lk == "cache-control", lk == "content-language", lk == "expires":
			out[k] = v
		}
	}
	return out
}

func (s *Store) tempFile(bucketName string) (*os.File, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return os.OpenFile(filepath.Join(s.dir, bucketName, "tmp-"+hex.EncodeToString(b[:])), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// DeleteObject deletes an object; deleting one that does not exist is not an error, as in S3.
func (s *Store) DeleteObject(bucketName, key string) (gofakes3.ObjectDeleteResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(bucketName)
	if err != nil {
		return gofakes3.ObjectDeleteResult{}, err
	}
	if b.objects[key] == nil {
		return gofakes3.ObjectDeleteResult{}, nil
	}
	b.remove(key)
	_ = os.Remove(s.file(bucketName, key, ".meta"))
	return gofakes3.ObjectDeleteResult{}, os.Remove(s.file(bucketName, key, ".data"))
}

// DeleteMulti deletes several objects.
func (s *Store) DeleteMulti(bucketName string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	for _, k := range keys {
		if _, err := s.DeleteObject(bucketName, k); err != nil {
			res.Error = append(res.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: k})
	}
	return res, nil
}

// CopyObject copies an object, with its metadata or, when meta names any, the metadata given.
func (s *Store) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	src, err := s.GetObject(srcBucket, srcKey, nil)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	defer src.Contents.Close()
	if len(storedMeta(meta)) == 0 {
		meta = src.Metadata
	}
	e, err := s.put(dstBucket, dstKey, meta, src.Contents, src.Size, nil, "")
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: `"` + e.ETag + `"`, LastModified: gofakes3.NewContentTime(e.Modified)}, nil
}

// Stats are the objects the store holds and their bytes.
func (s *Store) Stats() (objects, bytes int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.buckets {
		for _, e := range b.objects {
			objects++
			bytes += e.Size
		}
	}
	return objects, bytes
}

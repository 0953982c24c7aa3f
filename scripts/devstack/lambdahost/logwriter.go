package lambdahost

import (
	"bytes"
	"io"
	"sync"
)

// syncWriter serialises writes from the processes of a function.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// lineWriter passes on whole lines only, so the output of concurrent processes does not interleave
// within a line.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	dst io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		_, _ = l.dst.Write(l.buf[:i+1])
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
	const maxLine = 64 * 1024
	if len(l.buf) > maxLine {
		_, _ = l.dst.Write(append(l.buf, '\n'))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		_, _ = l.dst.Write(append(l.buf, '\n'))
		l.buf = l.buf[:0]
	}
}

// PrefixWriter writes each line to w with prefix in front; for echoing a function's log on the
// host's own output. Safe for concurrent use.
func PrefixWriter(w io.Writer, prefix string) io.Writer {
	return &prefixWriter{w: w, prefix: []byte(prefix)}
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte
	buf    []byte
}

// Write writes the whole lines of b, each with the prefix, in one write to w; a partial line waits
// for its end.
func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	var out []byte
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		out = append(append(out, p.prefix...), p.buf[:i+1]...)
		p.buf = p.buf[i+1:]
	}
	if len(out) > 0 {
		if _, err := p.w.Write(out); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

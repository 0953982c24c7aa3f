package stack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// notifyWorkers deliver the buckets' notifications, each an asynchronous invocation with its
// retries: many, so that those waiting to retry hold up no others (the function's environments
// bound how many run at once). notifyQueue is how many may wait for a worker before a write that
// makes one waits too.
const (
	notifyWorkers = 64
	notifyQueue   = 1024
)

// notice is a notification to deliver: the function and S3's event.
type notice struct {
	function topology.Function
	payload  []byte
}

// startS3 serves the local S3 server on its port, behind the meter and the configured middleware
// like the other services, and creates the topology's buckets in it.
func (s *Stack) startS3(bg context.Context) error {
	dir := s.cfg.S3Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "dcrm-s3")
		if err != nil {
			return fmt.Errorf("s3: %w", err)
		}
		dir, s.s3Temp = tmp, tmp
	}
	srv, err := s3server.New(dir, s3server.Options{Created: s.objectCreated, Logger: s.log.With("component", "s3")})
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	for _, b := range s.topo.Buckets {
		name := s.bucketName(b.Name)
		if err := srv.Store().CreateBucket(name); err != nil && !gofakes3.IsAlreadyExists(err) {
			return fmt.Errorf("provision: bucket %s: %w", name, err)
		}
		s.resources[b.Name] = name
	}
	ln, err := listen(s.cfg.S3Port, "DCRM_S3_PORT")
	if err != nil {
		return err
	}
	s.meter.Stored(srv.Store().Stats)
	var h http.Handler = srv
	h = s.meter.Middleware(usage.S3, h)
	for i := len(s.cfg.Middleware) - 1; i >= 0; i-- {
		h = s.cfg.Middleware[i](usage.S3, h)
	}
	s.s3URL = "http://" + ln.Addr().String()
	s.proxied.S3 = s.s3URL
	s.serve(ln, h)
	s.notices = make(chan notice, notifyQueue)
	for range notifyWorkers {
		s.wg.Go(func() { s.deliver(bg) })
	}
	return nil
}

// bucketName is a bucket's local name: S3 wants lower case.
func (s *Stack) bucketName(logical string) string { return strings.ToLower(s.physical(logical)) }

// objectCreated queues the notifications an object created calls for: one per notification of its
// bucket whose prefix and suffix match its key (they do not overlap: topology.Validate).
func (s *Stack) objectCreated(c s3server.Created) {
	for i, n := range s.topo.Notifications {
		if s.resources[n.Bucket] != c.Bucket || !n.Matches(c.Key) {
			continue
		}
		f, _ := s.topo.Function(n.Function)
		payload := s3server.Event(c, localaws.Region, notificationID(i, n))
		select {
		case s.notices <- notice{f, payload}:
		case <-s.bg.Done():
		}
	}
}

// notificationID is the configurationId of a notification's events: in AWS the id the deployment
// generated for it, here the bucket, its place in the topology and the function.
func notificationID(i int, n topology.Notification) string {
	return fmt.Sprintf("%s-%d-%s", strings.ToLower(n.Bucket), i, n.Function)
}

// deliver invokes functions with the notifications queued, asynchronously as S3 does: retried,
// then recorded on the function's on-failure queue (invokeAsync).
func (s *Stack) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-s.notices:
			if err := s.invokeAsync(ctx, n.function, n.payload); err != nil && ctx.Err() == nil {
				s.log.Warn("s3 notification not delivered", "function", n.function.Name, "error", err)
			}
		}
	}
}

// S3URL is the local S3 server's address (for AWS_ENDPOINT_URL_S3).
func (s *Stack) S3URL() string { return s.s3URL }

package stack

import (
	"fmt"
	"net/http"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/firehose"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// DefaultFirehoseInterval is the delivery streams' buffer interval locally, unless
// Config.FirehoseInterval says otherwise: short, so that tests and the demo see what was put
// within seconds (in AWS the topology's interval applies).
const DefaultFirehoseInterval = 5 * time.Second

// DefaultFirehosePort is where the local host serves Data Firehose unless DCRM_FIREHOSE_PORT says
// otherwise: next to S3's (localaws.DefaultS3Port).
const DefaultFirehosePort = 4573

// startFirehose serves the topology's delivery streams (package firehose) on FirehosePort, behind
// the meter and the configured middleware like the other services, delivering through the local
// S3 server's API (so S3 meters the objects and their buckets' notifications fire). It runs after
// startS3.
func (s *Stack) startFirehose() error {
	interval := s.cfg.FirehoseInterval
	if interval == 0 {
		interval = DefaultFirehoseInterval
	}
	var streams []firehose.Stream
	for _, d := range s.topo.DeliveryStreams {
		st := firehose.Stream{Name: s.physical(d.Name), Bucket: s.resources[d.Bucket], Prefix: d.Prefix, ErrorPrefix: d.ErrorPrefix,
			BufferInterval: interval, BufferBytes: d.BufferBytes}
		if interval < 0 {
			st.BufferInterval = d.BufferInterval
		}
		streams = append(streams, st)
		s.resources[d.Name] = st.Name
	}
	srv, err := firehose.New(firehose.Options{S3: localaws.Endpoints{S3: s.s3URL}.S3Client(), Streams: streams,
		Region: localaws.Region, Logger: s.log.With("component", "firehose")})
	if err != nil {
		return fmt.Errorf("firehose: %w", err)
	}
	s.firehose = srv
	ln, err := listen(s.cfg.FirehosePort, "DCRM_FIREHOSE_PORT")
	if err != nil {
		return err
	}
	var h http.Handler = srv
	h = s.meter.Middleware(usage.Firehose, h)
	for i := len(s.cfg.Middleware) - 1; i >= 0; i-- {
		h = s.cfg.Middleware[i](usage.Firehose, h)
	}
	s.firehoseURL = "http://" + ln.Addr().String()
	s.firehoseHTTP = s.serve(ln, h)
	return nil
}

// stopFirehose stops taking records and writes what the delivery streams hold to S3 (within
// firehose.DefaultCloseTimeout), before the S3 server stops.
func (s *Stack) stopFirehose() {
	if s.firehoseHTTP != nil {
		_ = s.firehoseHTTP.Close()
	}
	if s.firehose != nil {
		if err := s.firehose.Close(); err != nil {
			s.log.Error("delivery streams not flushed", "error", err)
		}
	}
}

// FirehoseURL is the local Data Firehose's address (for AWS_ENDPOINT_URL_FIREHOSE).
func (s *Stack) FirehoseURL() string { return s.firehoseURL }

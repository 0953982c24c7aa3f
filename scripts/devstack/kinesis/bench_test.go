package kinesis_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/dcrm-project/dcrm/scripts/devstack/kinesis"
)

// The benchmarks put and get records through the SDK as dcrm does (PutRecords of 20 records of
// 6 KB, the load the issue measured kinesis-mock with; GetRecords of 100 records as the stream
// mapping reads them) against this server in process (without its throughput limits, which would
// measure the limits), and against the servers named in DCRM_KINESIS_BENCH_ENDPOINTS
// (name=URL,…; default: kinesis-mock at http://127.0.0.1:4569 when it answers). Besides ns/op they
// report records/s and CPU per record: for the server in process, the whole test process's CPU
// (client included); for a server elsewhere, that server's own CPU, read from /proc for the process
// listening on the endpoint's port. README.md has the method and figures.

const (
	benchRecords = 20
	benchBytes   = 6 << 10
)

type benchTarget struct {
	name   string
	client *sdk.Client
	cpu    func() time.Duration // CPU used so far by what is measured
}

func benchTargets(b *testing.B) []benchTarget {
	srv := httptest.NewServer(kinesis.New(kinesis.Options{Limits: &kinesis.Limits{}}))
	b.Cleanup(srv.Close)
	targets := []benchTarget{{name: "ours-in-process", client: client(srv.URL), cpu: selfCPU}}
	spec := os.Getenv("DCRM_KINESIS_BENCH_ENDPOINTS")
	if spec == "" && reachable("http://127.0.0.1:4569") {
		spec = "kinesis-mock=http://127.0.0.1:4569"
	}
	for _, item := range strings.Split(spec, ",") {
		name, endpoint, ok := strings.Cut(item, "=")
		if !ok {
			continue
		}
		pid := listenerPID(endpoint)
		if pid == 0 {
			b.Logf("%s: no process of ours listens at %s; CPU not measured", name, endpoint)
		}
		targets = append(targets, benchTarget{name: name, client: client(endpoint), cpu: func() time.Duration { return processCPU(pid) }})
	}
	return targets
}

func BenchmarkPutRecords(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			name := benchStream(b, tg.client)
			entries := benchEntries()
			cpu0, start := tg.cpu(), time.Now()
			b.ResetTimer()
			for b.Loop() {
				out, err := tg.client.PutRecords(b.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries})
				if err != nil || aws.ToInt32(out.FailedRecordCount) > 0 {
					b.Fatalf("put records: %v (%d failed)", err, aws.ToInt32(out.FailedRecordCount))
				}
			}
			report(b, b.N*benchRecords, time.Since(start), tg.cpu()-cpu0)
		})
	}
}

func BenchmarkGetRecords(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			name := benchStream(b, tg.client)
			entries := benchEntries()
			for range 100 { // 2,000 records to read over and over
				if _, err := tg.client.PutRecords(b.Context(), &sdk.PutRecordsInput{StreamName: aws.String(name), Records: entries}); err != nil {
					b.Fatal(err)
				}
			}
			first := func() *string {
				it, err := tg.client.GetShardIterator(b.Context(), &sdk.GetShardIteratorInput{StreamName: aws.String(name),
					ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
				if err != nil {
					b.Fatal(err)
				}
				return it.ShardIterator
			}
			it, read := first(), 0
			cpu0, start := tg.cpu(), time.Now()
			b.ResetTimer()
			for b.Loop() {
				out, err := tg.client.GetRecords(b.Context(), &sdk.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(100)})
				if err != nil {
					b.Fatal(err)
				}
				read += len(out.Records)
				if it = out.NextShardIterator; len(out.Records) == 0 {
					it = first()
				}
			}
			report(b, read, time.Since(start), tg.cpu()-cpu0)
		})
	}
}

func benchEntries() []types.PutRecordsRequestEntry {
	var entries []types.PutRecordsRequestEntry
	for i := range benchRecords {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("visitor-%d", i)), Data: bytes.Repeat([]byte{'a' + byte(i)}, benchBytes)})
	}
	return entries
}

func benchStream(b *testing.B, k *sdk.Client) string {
	name := uniqueName()
	if _, err := k.CreateStream(b.Context(), &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { deleteStream(k, name) })
	if err := sdk.NewStreamExistsWaiter(k).Wait(b.Context(), &sdk.DescribeStreamInput{StreamName: aws.String(name)}, time.Minute,
		func(o *sdk.StreamExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
		}); err != nil {
		b.Fatal(err)
	}
	return name
}

func report(b *testing.B, records int, wall, cpu time.Duration) {
	if records == 0 {
		return
	}
	b.ReportMetric(float64(records)/wall.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(records), "cpu-µs/record")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the user and system CPU a process has used (0 if it cannot be read).
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses: utime and stime are the 12th
	// and 13th of them, in clock ticks of 1/100 s.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// listenerPID finds the process listening on the endpoint's port on loopback, through /proc (0 if
// none is found or it is not readable).
func listenerPID(endpoint string) int {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0
	}
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is the tenth field.
			if len(fields) > 9 && fields[3] == "0A" && strings.HasSuffix(fields[1], fmt.Sprintf(":%04X", port)) {
				inode = fields[9]
			}
		}
		f.Close()
	}
	if inode == "" {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if target, err := os.Readlink(fd); err == nil && target == "socket:["+inode+"]" {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}

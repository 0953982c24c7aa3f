package main

import (
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"

	"bufio"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// memory is the resident memory (kB) of the soak's own process (the local host: HTTP API, stream
// mapping, proxies), of each function's processes together, and of each local server, found by
// the port it listens on. Processes it cannot read are left out.
func (s *soak) memory() map[string]int64 {
	out := map[string]int64{"host": rss(os.Getpid())}
	for name, pids := range s.st.PIDs() {
		for _, pid := range pids {
			out[name] += rss(pid)
		}
	}
	for name, ep := range map[string]string{"dynamodb": s.direct.DynamoDB, "kinesis": s.direct.Kinesis, "sqs": s.direct.SQS} {
		if pid := listener(ep); pid > 0 {
			out[name] = rss(pid)
		}
	}
	return out
}

// rss reads VmRSS (kB) from /proc; 0 when it cannot.
func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// listener is the process that listens on the endpoint's port, found through /proc/net/tcp and
// the processes' sockets; 0 when none can be seen.
func listener(endpoint string) int {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0
	}
	return lambdahost.Listener(port)
}

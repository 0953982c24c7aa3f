package main

import (
	"bufio"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"
)

// Machine is what the run ran on.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	LoadStart float64 `json:"loadAverageStart"` // 1-minute load average
	LoadEnd   float64 `json:"loadAverageEnd"`
	Go        string  `json:"go"`
	OS        string  `json:"os"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// servers finds the local AWS servers' processes: by the pid files the emulators script writes
// (<state>/run/<name>.pid), else by the process listening on the endpoint's port.
func servers(state string, endpoints map[string]string) map[string]int {
	pids := map[string]int{}
	for name, endpoint := range endpoints {
		if b, err := os.ReadFile(filepath.Join(state, "run", name+".pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if _, err := lambdahost.ProcessCPU(pid); err == nil {
					pids[name] = pid
					continue
				}
			}
		}
		if u, err := url.Parse(endpoint); err == nil {
			if port, err := strconv.Atoi(u.Port()); err == nil {
				if pid := lambdahost.Listener(port); pid > 0 {
					pids[name] = pid
				}
			}
		}
	}
	return pids
}

// cpuOf reads each process's CPU time; a process gone reads as absent.
func cpuOf(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pids {
		if d, err := lambdahost.ProcessCPU(pid); err == nil {
			out[name] = d
		}
	}
	return out
}

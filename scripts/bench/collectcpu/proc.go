package main

import (
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"

	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on Linux.
const clockTicks = 100

// stat reads a process's parent, name and CPU time (utime + stime, in clock ticks).
func stat(pid int) (ppid int, comm string, ticks int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", 0, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')') // the name may hold spaces
	if open < 0 || end < open {
		return 0, "", 0, fmt.Errorf("/proc/%d/stat: unexpected form", pid)
	}
	f := strings.Fields(s[end+1:]) // from field 3 (state) on
	if len(f) < 13 {
		return 0, "", 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, s[open+1 : end], utime + stime, nil
}

// cpuOf reads the CPU time of each process; a process that cannot be read (0: none) counts 0.
func cpuOf(pids []int) map[int]int64 {
	out := map[int]int64{}
	for _, p := range pids {
		if p > 0 {
			_, _, out[p], _ = stat(p)
		}
	}
	return out
}

// children lists the function processes (named bootstrap) whose parent is pid, in order.
func children(pid int) []int {
	dirs, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if ppid, comm, _, err := stat(p); err == nil && ppid == pid && comm == "bootstrap" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// portOwner finds the process with a listening TCP socket on port (IPv4 or IPv6).
func portOwner(port string) (int, error) {
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("port %q: %w", port, err)
	}
	if pid := lambdahost.Listener(n); pid > 0 {
		return pid, nil
	}
	return 0, fmt.Errorf("no process found listening on port %d", n)
}

//go:build !linux

package lambdahost

import (
	"errors"
	"os"
	"os/exec"
	"time"
)

// setProcessAttributes leaves the process as it is; only Linux can tie its life to the host's.
func setProcessAttributes(cmd *exec.Cmd) {}

func terminate(cmd *exec.Cmd) { _ = cmd.Process.Signal(os.Interrupt) }

func forceKill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// processCPU is unknown where there is no /proc.
func processCPU(int) time.Duration { return 0 }

// ProcessCPU is not known without /proc.
func ProcessCPU(int) (time.Duration, error) {
	return 0, errors.New("process CPU is read from /proc, which this system lacks")
}

// Listener is not known without /proc.
func Listener(int) int { return 0 }

//go:build !linux

package lambdahost

import (
	"os"
	"os/exec"
)

// setProcessAttributes leaves the process as it is; only Linux can tie its life to the host's.
func setProcessAttributes(cmd *exec.Cmd) {}

func terminate(cmd *exec.Cmd) { _ = cmd.Process.Signal(os.Interrupt) }

func forceKill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

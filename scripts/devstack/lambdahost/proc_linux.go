package lambdahost

import (
	"os/exec"
	"syscall"
)

// setProcessAttributes puts the function in its own process group, so that a timeout kills whatever
// it started too, and has the kernel kill it if the host dies without cleaning up.
func setProcessAttributes(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func terminate(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func forceKill(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatReadsParentNameAndCPU(t *testing.T) {
	ppid, comm, before, err := stat(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, os.Getppid(), ppid)
	assert.Equal(t, filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))], comm)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) { // spend CPU until the kernel has counted a tick of it
		if _, _, now, _ := stat(os.Getpid()); now > before {
			return
		}
	}
	t.Error("no CPU time counted in 5 s of work")
}

func TestChildrenAreTheBootstrapsStartedHere(t *testing.T) {
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(sleep, filepath.Join(dir, "bootstrap")))
	cmd := exec.Command(filepath.Join(dir, "bootstrap"), "30")
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	other := exec.Command(sleep, "30") // not a function: not counted
	require.NoError(t, other.Start())
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()

	assert.Equal(t, []int{cmd.Process.Pid}, children(os.Getpid()))
	assert.Empty(t, children(cmd.Process.Pid))
}

func TestPortOwnerFindsTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	pid, err := portOwner(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)

	ln.Close()
	_, err = portOwner(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	assert.Error(t, err, "nothing listens any more")
}

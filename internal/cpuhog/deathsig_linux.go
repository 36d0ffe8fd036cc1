package cpuhog

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the hog when the test binary dies: a
// test that panics on its timeout never runs its cleanups, and a hog left
// spinning would starve every run after it.
func dieWithParent(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

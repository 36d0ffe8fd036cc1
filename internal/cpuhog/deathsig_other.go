//go:build !linux

package cpuhog

import "os/exec"

func dieWithParent(*exec.Cmd) {}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// serverID names this node in the Admin UI: the host name, as Node's, and
// with the process id in a cluster (as Node's cluster workers), since
// several nodes may share a host.
func serverID(cfg config) string {
	if cfg.AdminServerID != "" {
		return cfg.AdminServerID
	}
	host, _ := os.Hostname()
	if cfg.Adapter == "memory" {
		return host
	}
	return fmt.Sprintf("%s#%d", host, os.Getpid())
}

// hashPassword reads a password line from in and writes its bcrypt hash,
// for --admin-password-hash.
func hashPassword(in io.Reader, out io.Writer, cost int) error {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("--hash-password: no password on standard input")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(h))
	return err
}

package runtimes

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitReason is the reason a container runtime gives for a non-zero exit:
// "exit code n", naming the signal of the shell convention 128+n (a
// worker killed by a signal, or one that exits with that code itself, as
// the worker does after a SIGTERM): "exit code 137 = 128+SIGKILL".
func ExitReason(code int) string {
	r := fmt.Sprintf("exit code %d", code)
	if code > 128 && code < 128+65 {
		if name := unix.SignalName(syscall.Signal(code - 128)); name != "" {
			r += " = 128+" + name
		}
	}
	return r
}

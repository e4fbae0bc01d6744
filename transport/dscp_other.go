//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package transport

import "syscall"

func dscpControl(dscp int) func(network, address string, c syscall.RawConn) error { return nil }

// A statically linked Go probe (CGO_ENABLED=0: raw syscalls, no libc, so LD_PRELOAD cannot apply) for the `run`
// end-to-end tests. Usage: go-probe HOST PORT — prints the address the lab's whoami service saw.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go-probe HOST PORT")
		os.Exit(2)
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(os.Args[1], os.Args[2]), 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-probe:", err)
		os.Exit(1)
	}
	defer conn.Close()
	b, err := io.ReadAll(conn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-probe:", err)
		os.Exit(1)
	}
	fmt.Println(strings.TrimSpace(string(b)))
}

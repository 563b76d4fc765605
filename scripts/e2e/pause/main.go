// pause is the process of a pod's sandbox container: it holds the pod's namespaces open, does nothing,
// reaps zombies (it is PID 1 when the pod shares its process namespace) and exits on SIGINT/SIGTERM.
// A stand-in for registry.k8s.io/pause, which cannot be pulled here; built as a static binary.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (scripts/e2e/pause)\n")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		switch s {
		case syscall.SIGCHLD:
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		default:
			os.Exit(0)
		}
	}
}

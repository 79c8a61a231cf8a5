// Command controllerruntime-manager is a kubebuilder-style manager for
// podium's interop tests: ctrl.NewManager with LeaderElection true, exactly
// as an operator scaffolded by kubebuilder or the Operator SDK elects, so the
// Lease carries controller-runtime's own holderIdentity (os.Hostname() + "_"
// + a uuid per process). Metrics and health probes are off: the process
// listens on nothing. It prints one JSON line per leadership change to stdout
// with the wall time in Unix nanoseconds, like test/clientgo:
//
//	{"event":"campaigning","id":"<hostname>","t":...}
//	{"event":"started_leading","id":"<hostname>","t":...}
//	{"event":"stopped_leading","id":"<hostname>","t":...}
//
// The kubeconfig comes from --kubeconfig or $KUBECONFIG (controller-runtime's
// own lookup). SIGTERM or SIGINT stops the manager (releasing the Lease with
// --leader-election-release-on-cancel); the process exits 0 when it stopped
// cleanly and 1 when it lost leadership, as a kubebuilder main.go does.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

type line struct {
	Event string `json:"event"`
	ID    string `json:"id"`
	T     int64  `json:"t"`
}

var stdout sync.Mutex

func emit(event, id string) {
	b, err := json.Marshal(line{Event: event, ID: id, T: time.Now().UnixNano()})
	if err != nil {
		panic(err)
	}
	stdout.Lock()
	defer stdout.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

func main() {
	electionID := flag.String("leader-election-id", "", "LeaderElectionID: the name of the Lease")
	electionNamespace := flag.String("leader-election-namespace", "default", "LeaderElectionNamespace")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "LeaseDuration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "RenewDeadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "RetryPeriod")
	releaseOnCancel := flag.Bool("leader-election-release-on-cancel", false, "LeaderElectionReleaseOnCancel")
	flag.Parse() // also parses --kubeconfig, which controller-runtime registers
	if *electionID == "" {
		fmt.Fprintln(os.Stderr, "--leader-election-id is required")
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	hostname, err := os.Hostname()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hostname: %v\n", err)
		os.Exit(1)
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		LeaderElection:                true,
		LeaderElectionID:              *electionID,
		LeaderElectionNamespace:       *electionNamespace,
		LeaseDuration:                 leaseDuration,
		RenewDeadline:                 renewDeadline,
		RetryPeriod:                   retryPeriod,
		LeaderElectionReleaseOnCancel: *releaseOnCancel,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		os.Exit(1)
	}
	// A RunnableFunc needs leader election: the manager starts it only once
	// this process holds the Lease, and cancels its context when it stops.
	err = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		emit("started_leading", hostname)
		<-ctx.Done()
		emit("stopped_leading", hostname)
		return nil
	}))
	if err != nil {
		fmt.Fprintf(os.Stderr, "add runnable: %v\n", err)
		os.Exit(1)
	}
	emit("campaigning", hostname)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintf(os.Stderr, "manager stopped: %v\n", err)
		os.Exit(1)
	}
}

// Command clientgo-candidate is a leader-election candidate written exactly
// the way client-go users write one (leaderelection.RunOrDie on a LeaseLock),
// for podium's interop tests. Each callback prints one JSON line to stdout
// with the wall time in Unix nanoseconds:
//
//	{"event":"started_leading","id":"a","t":...}
//	{"event":"stopped_leading","id":"a","t":...}
//	{"event":"new_leader","id":"a","leader":"b","t":...}
//
// SIGTERM or SIGINT cancels the run (releasing the Lease with
// --release-on-cancel); the process exits 0 once it has stopped leading.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

type line struct {
	Event  string  `json:"event"`
	ID     string  `json:"id"`
	Leader *string `json:"leader,omitempty"`
	T      int64   `json:"t"`
}

var stdout sync.Mutex

func emit(event, id string, leader *string) {
	b, err := json.Marshal(line{Event: event, ID: id, Leader: leader, T: time.Now().UnixNano()})
	if err != nil {
		panic(err)
	}
	stdout.Lock()
	defer stdout.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

func main() {
	// Handled from the start: a SIGTERM before the election cancels it (exit 0).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	kubeconfig := flag.String("kubeconfig", "", "path of the kubeconfig file")
	namespace := flag.String("namespace", "default", "namespace of the Lease")
	leaseName := flag.String("lease-name", "", "name of the Lease")
	id := flag.String("id", "", "this candidate's identity (holderIdentity)")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "LeaseDuration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "RenewDeadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "RetryPeriod")
	releaseOnCancel := flag.Bool("release-on-cancel", false, "ReleaseOnCancel")
	flag.Parse()
	if *leaseName == "" || *id == "" {
		fmt.Fprintln(os.Stderr, "--lease-name and --id are required")
		os.Exit(2)
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeconfig: %v\n", err)
		os.Exit(1)
	}
	client := kubernetes.NewForConfigOrDie(config)

	lock := &resourcelock.LeaseLock{
		LeaseMeta: metav1.ObjectMeta{Name: *leaseName, Namespace: *namespace},
		Client:    client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{
			Identity: *id,
		},
	}

	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: *releaseOnCancel,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				emit("started_leading", *id, nil)
				<-ctx.Done()
			},
			OnStoppedLeading: func() {
				emit("stopped_leading", *id, nil)
			},
			OnNewLeader: func(identity string) {
				emit("new_leader", *id, &identity)
			},
		},
	})
}

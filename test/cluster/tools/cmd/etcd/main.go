// Command etcd is the upstream etcd server (go.etcd.io/etcd/server/v3/etcdmain)
// at the version k8s.io/kubernetes itself pins. Debian's etcd-server (3.4.23)
// predates RequestWatchProgress, so kube-apiserver 1.37 disables WatchList and
// every client-go informer (kwok, controller-manager, scheduler) keeps failing
// its first watch; a matching etcd avoids that.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }

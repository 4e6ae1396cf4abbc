// Package k8stest runs a real kube-apiserver and etcd (controller-runtime's envtest, with
// the binaries make k8s-bins builds) and writes kubeconfig files for it, so tests, and the
// collector binary they start, talk to a real API server: real validation, field
// selectors, watches and RBAC.
package k8stest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// BinDirEnv names the folder holding kube-apiserver and etcd (envtest's own variable).
const BinDirEnv = "KUBEBUILDER_ASSETS"

// startTimeout is generous: a 2-core CI runner under load starts the pair in ~5-15s.
const startTimeout = 90 * time.Second

// Cluster is a running kube-apiserver + etcd.
type Cluster struct {
	// Config and Client act as the cluster admin (system:masters).
	Config *rest.Config
	Client kubernetes.Interface
	// AdminKubeconfig is the path of a kubeconfig file for the cluster admin.
	AdminKubeconfig string

	env *envtest.Environment
	dir string
}

// BinDir is $KUBEBUILDER_ASSETS, else this module's .cache/k8s-bin, where make k8s-bins
// puts the binaries.
func BinDir() string {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return dir
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", ".cache", "k8s-bin")
}

// BinariesPresent reports whether binDir holds both binaries.
func BinariesPresent(binDir string) bool {
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(binDir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// Start runs kube-apiserver and etcd from binDir and returns once the API serves.
// Stop ends them and removes their files.
func Start(binDir string) (*Cluster, error) {
	if !BinariesPresent(binDir) {
		return nil, fmt.Errorf("kube-apiserver and etcd not found in %s: run make k8s-bins", binDir)
	}
	dir, err := os.MkdirTemp("", "k8stest-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    binDir,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	c := &Cluster{Config: cfg, env: env, dir: dir}
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	c.AdminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(c.AdminKubeconfig, env.KubeConfig, 0o600); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// StartForTest starts a cluster for one test and stops it when the test ends. Without
// binaries it skips, unless $KUBEBUILDER_ASSETS names them (make integration-test does),
// where their absence is a failure.
func StartForTest(tb testing.TB) *Cluster {
	tb.Helper()
	binDir := BinDir()
	if !BinariesPresent(binDir) && os.Getenv(BinDirEnv) == "" {
		tb.Skipf("no kube-apiserver/etcd in %s: run make k8s-bins (or make integration-test)", binDir)
	}
	c, err := Start(binDir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("stop cluster: %v", err)
		}
	})
	return c
}

// WriteKubeconfig writes a kubeconfig file for a user authenticated by client
// certificate as name in groups, and returns its path. The user can do nothing until RBAC
// grants it something, as in a real cluster.
func (c *Cluster) WriteKubeconfig(name string, groups ...string) (string, error) {
	user, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", name, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, name+".kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// Stop ends kube-apiserver and etcd and removes the kubeconfig files.
func (c *Cluster) Stop() error {
	return errors.Join(c.env.Stop(), os.RemoveAll(c.dir))
}

package collectors

import (
	"maps"
	"net"
	"slices"
	"testing"

	"github.com/safchain/ethtool"
)

// TestEthtoolExactSizeAgreesWithLibrary checks the exact-size statistics
// and feature requests against safchain/ethtool's own (which ask for the
// largest set any driver may have) on every interface of this host: the
// same features in the same state, the same statistics' names (their
// values move between the two reads).
func TestEthtoolExactSizeAgreesWithLibrary(t *testing.T) {
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	et, err := openEthtool()
	if err != nil {
		t.Skipf("no ethtool socket: %v", err)
	}
	defer et.Close()
	lib, err := ethtool.NewEthtool()
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	compared := 0
	for _, ifc := range ifaces {
		want, wantErr := lib.Features(ifc.Name)
		got, gotErr := et.Features(ifc.Name)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%s features: library error %v, netdx error %v", ifc.Name, wantErr, gotErr)
		} else if wantErr == nil {
			compared++
			if !maps.Equal(got, want) {
				t.Errorf("%s features:\n got %v\nwant %v", ifc.Name, got, want)
			}
		}
		wantStats, wantErr := lib.Stats(ifc.Name)
		gotStats, gotErr := et.Stats(ifc.Name)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%s statistics: library error %v, netdx error %v", ifc.Name, wantErr, gotErr)
		} else if wantErr == nil {
			g, w := slices.Sorted(maps.Keys(gotStats)), slices.Sorted(maps.Keys(wantStats))
			if !slices.Equal(g, w) {
				t.Errorf("%s statistics' names:\n got %v\nwant %v", ifc.Name, g, w)
			}
		}
	}
	if compared == 0 {
		t.Skip("no interface of this host answers ethtool feature requests")
	}
	t.Logf("compared %d interfaces", compared)
}

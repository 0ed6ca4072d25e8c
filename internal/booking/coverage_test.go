package booking

import (
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// TestCoverageOfSimulatorTexts reports the share of the simulator's
// realistic booked rows that the default table maps. The rows it leaves
// unmapped must be those with only beloppKronofogden or a zero amount.
func TestCoverageOfSimulatorTexts(t *testing.T) {
	table := Default()
	now := time.Now()
	var rows, mapped, kfmOnly, zero int
	unmappedTexts := map[string]int{}
	for _, omf := range []string{sim.DemoAB, "161128000013", "165560000167", sim.DemoEF} {
		owner := OwnerOf(idnr.MustParse(omf))
		for seed := int64(1); seed <= 8; seed++ {
			a := sim.RealisticAccount(omf, seed, 200, now)
			for _, tx := range a.Tidigare {
				rows++
				v := table.Propose(tx.Transaktionstext, tx.BeloppSkatteverket, tx.BeloppKronofogden, owner, Settings{})
				checkVoucher(t, tx.Transaktionstext, v, deref(tx.BeloppSkatteverket))
				switch {
				case v.Status == StatusMapped:
					mapped++
				case tx.BeloppSkatteverket == nil:
					kfmOnly++
				case *tx.BeloppSkatteverket == 0:
					zero++
				default:
					unmappedTexts[tx.Transaktionstext]++
				}
			}
		}
	}
	share := float64(mapped) / float64(rows)
	t.Logf("mapped %d of %d booked simulator rows (%.1f %%); unmapped: %d with only beloppKronofogden, %d with amount 0, others %v",
		mapped, rows, 100*share, kfmOnly, zero, unmappedTexts)
	if share < 0.90 {
		t.Errorf("mapped share %.1f %%, want >= 90 %%", 100*share)
	}
	if len(unmappedTexts) != 0 {
		t.Errorf("texts with beloppSkatteverket left unmapped: %v, want none", unmappedTexts)
	}
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

package demo

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/encours/encours/domain"
)

// The portfolio's make-up: the demo's choices for a French supplier selling mostly at home.

// weighted is one choice with its weight.
type weighted struct {
	name   string
	weight int
}

func pickWeighted(r *rand.Rand, ws []weighted) weighted {
	total := 0
	for _, w := range ws {
		total += w.weight
	}
	x := r.IntN(total)
	for _, w := range ws {
		if x < w.weight {
			return w
		}
		x -= w.weight
	}
	panic("demo: pickWeighted past the end")
}

// segments: mostly small and medium enterprises, a fifth corporates, a tenth public bodies.
var segments = [...]weighted{{"sme", 70}, {"corporate", 20}, {"public", 10}}

type country struct {
	code   string
	ccy    domain.Currency
	weight int
}

// privateCountries: France first, some neighbours, a few customers invoiced in GBP and USD.
var privateCountries = [...]country{
	{"FR", "EUR", 70}, {"DE", "EUR", 8}, {"BE", "EUR", 6}, {"ES", "EUR", 6}, {"IT", "EUR", 6},
	{"GB", "GBP", 2}, {"US", "USD", 2},
}

// publicCountries: public buyers are French and Belgian local bodies and hospitals.
var publicCountries = [...]country{{"FR", "EUR", 90}, {"BE", "EUR", 10}}

func pickCountry(r *rand.Rand, segment string) country {
	cs := privateCountries[:]
	if segment == "public" {
		cs = publicCountries[:]
	}
	ws := make([]weighted, len(cs))
	for i, c := range cs {
		ws[i] = weighted{c.code, c.weight}
	}
	code := pickWeighted(r, ws).name
	for _, c := range cs {
		if c.code == code {
			return c
		}
	}
	panic("demo: unknown country " + code)
}

// sector is a NACE Rev. 2 division ("C25": section letter and division number, the form
// CustomerRegistered.Sector carries) with its weight in each segment.
type sector struct {
	code, description string
	weights           map[string]int // by segment
}

// naceDivisionsCSV is a curated subset of the NACE Rev. 2 divisions (Eurostat, CC BY 4.0,
// /shared/data/nace_rev2_eurostat_en.csv, Level 2 rows), with the demo's weight of each
// division per segment. Descriptions are copied unchanged.
//
//go:embed data/nace_divisions.csv
var naceDivisionsCSV []byte

var sectors = mustParseSectors(naceDivisionsCSV)

const sectorsMax = 88 // NACE Rev. 2 has 88 divisions

func mustParseSectors(b []byte) []sector {
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		panic(fmt.Sprintf("demo: embedded data/nace_divisions.csv: %v", err))
	}
	assertf(len(recs) >= 2 && len(recs) <= sectorsMax+1, "data/nace_divisions.csv has %d rows", len(recs))
	assertf(fmt.Sprint(recs[0]) == "[code description weight_sme weight_corporate weight_public]", "data/nace_divisions.csv header %v", recs[0])
	out := make([]sector, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		s := sector{code: rec[0], description: rec[1], weights: map[string]int{}}
		for i, seg := range []string{"sme", "corporate", "public"} {
			w, err := strconv.Atoi(rec[2+i])
			assertf(err == nil && w >= 0, "data/nace_divisions.csv: weight %q of %s", rec[2+i], rec[0])
			s.weights[seg] = w
		}
		out = append(out, s)
	}
	return out
}

func pickSector(r *rand.Rand, segment string) sector {
	total := 0
	for _, s := range sectors {
		total += s.weights[segment]
	}
	x := r.IntN(total)
	for _, s := range sectors {
		if x < s.weights[segment] {
			return s
		}
		x -= s.weights[segment]
	}
	panic("demo: pickSector past the end")
}

// pickTerms: French private buyers mostly at 30 days or 30 days end of month, corporates at
// 45–60 days, a few small customers at 75 days (beyond the LME cap: the compliance signal
// flags them); public hospitals at the legal 50 days, other public bodies at 30; southern
// neighbours at 60 days.
func pickTerms(r *rand.Rand, segment, countryCode, sectorCode string) domain.Terms {
	eom30 := domain.Terms{Kind: domain.TermsEndOfMonthNet, Days: 30}
	type choice struct {
		terms  domain.Terms
		weight int
	}
	var cs []choice
	switch {
	case segment == "public" && sectorCode == "Q86":
		return domain.Net(50)
	case segment == "public":
		return domain.Net(30)
	case countryCode == "FR" && segment == "sme":
		cs = []choice{{domain.Net(30), 45}, {eom30, 25}, {domain.Net(45), 20}, {domain.Net(60), 8}, {domain.Net(75), 2}}
	case countryCode == "FR":
		cs = []choice{{domain.Net(45), 35}, {domain.Net(60), 40}, {eom30, 25}}
	case countryCode == "ES" || countryCode == "IT":
		cs = []choice{{domain.Net(60), 70}, {domain.Net(30), 30}}
	default:
		cs = []choice{{domain.Net(30), 60}, {domain.Net(45), 25}, {domain.Net(60), 15}}
	}
	total := 0
	for _, c := range cs {
		total += c.weight
	}
	x := r.IntN(total)
	for _, c := range cs {
		if x < c.weight {
			return c.terms
		}
		x -= c.weight
	}
	panic("demo: pickTerms past the end")
}

// typicalInvoiceEUR: the amount, in whole currency units, of a customer's invoice of the IBM
// mean, by segment; the IBM shape spreads each customer's invoices around it (≈ ±34 %).
var typicalInvoiceEUR = map[string][]int64{
	"sme":       {800, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 6500, 8000, 10000, 12500, 15000, 20000},
	"corporate": {8000, 12000, 15000, 20000, 30000, 40000, 50000, 75000, 100000, 150000},
	"public":    {3000, 5000, 8000, 12000, 20000, 30000, 45000, 60000},
}

// insurers are the three large credit insurers of the French market.
var insurers = [...]string{"Allianz Trade", "Coface", "Atradius"}

var disputeReasons = [...]string{
	"price differs from the order", "delivery incomplete", "goods damaged on delivery",
	"quantity invoiced twice", "quality claim", "missing purchase order number",
}

var (
	surnames = map[string][]string{
		"FR": {"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
			"Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
			"Morel", "Girard", "Andre", "Mercier", "Dupont", "Lambert", "Bonnet", "Francois", "Fontaine", "Chevalier"},
		"DE": {"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"},
		"BE": {"Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "Dubois"},
		"ES": {"García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"},
		"IT": {"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"},
		"GB": {"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans", "Thomas"},
		"US": {"Smith", "Johnson", "Miller", "Davis", "Anderson", "Clark", "Lewis", "Walker", "Hall", "Young"},
	}
	namePatterns = map[string][]string{
		"FR": {"Établissements %s SAS", "%s & Fils SARL", "Groupe %s SA", "Ateliers %s SARL", "Société %s SAS", "Maison %s SARL"},
		"DE": {"%s GmbH", "%s Metallbau GmbH", "%s Logistik GmbH", "%s Handel AG", "%s Technik GmbH"},
		"BE": {"%s NV", "%s BV", "%s SRL", "Ets %s SA"},
		"ES": {"Grupo %s S.A.", "%s Hermanos S.L.", "Comercial %s S.L."},
		"IT": {"%s S.r.l.", "%s & Figli S.p.A.", "Officine %s S.r.l."},
		"GB": {"%s & Sons Ltd", "%s Holdings plc", "%s Engineering Ltd"},
		"US": {"%s Industries Inc.", "%s Supply LLC", "%s Manufacturing Corp."},
	}
	cities = map[string][]string{
		"FR": {"Lyon", "Nantes", "Rennes", "Lille", "Tours", "Dijon", "Angers", "Brest", "Nîmes", "Metz",
			"Reims", "Limoges", "Amiens", "Annecy", "Poitiers", "Pau"},
		"BE": {"Namur", "Liège", "Mons", "Charleroi", "Wavre", "Arlon"},
	}
	publicPatterns = map[string]string{
		"O84": "Ville de %s", "P85": "Université de %s", "Q86": "Centre hospitalier de %s",
		"Q87": "EHPAD de %s", "E36": "Régie des eaux de %s", "E38": "Syndicat de collecte de %s",
		"R91": "Médiathèque de %s",
	}
)

// customerName makes a plausible company or public-body name for the country and sector.
// Names may repeat across a large portfolio, as they do in real ones; ids never do.
func customerName(r *rand.Rand, countryCode, segment, sectorCode string) string {
	if segment == "public" {
		cs := cities[countryCode]
		pattern, ok := publicPatterns[sectorCode]
		assertf(ok && len(cs) > 0, "no public name for %s in %s", sectorCode, countryCode)
		return fmt.Sprintf(pattern, cs[r.IntN(len(cs))])
	}
	ns, ps := surnames[countryCode], namePatterns[countryCode]
	assertf(len(ns) > 0 && len(ps) > 0, "no names for %s", countryCode)
	return fmt.Sprintf(ps[r.IntN(len(ps))], ns[r.IntN(len(ns))])
}

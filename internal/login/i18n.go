package login

import (
	"net/http"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Languages of the page: Swedish by default, English on request.
const (
	langSV = "sv"
	langEN = "en"
)

// pageLang picks the page's language: ?lang=sv or ?lang=en; else
// English for a browser whose Accept-Language names English and not
// Swedish; else Swedish.
func pageLang(r *http.Request) string {
	switch r.URL.Query().Get("lang") {
	case langSV:
		return langSV
	case langEN:
		return langEN
	}
	english := false
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.ReplaceAll(strings.TrimSpace(params), " ", "") == "q=0" {
			continue
		}
		switch tag = strings.ToLower(tag); {
		case tag == "sv" || strings.HasPrefix(tag, "sv-"):
			return langSV
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			english = true
		}
	}
	if english {
		return langEN
	}
	return langSV
}

// timeFmt shows a time with its zone's abbreviation (CET or CEST).
const timeFmt = "2006-01-02 15:04:05 MST"

// stockholm formats t in Swedish time, the zone shown.
func stockholm(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(contract.Stockholm).Format(timeFmt)
}

// texts are the page's words in one language. Those with verbs are
// fmt formats.
type texts struct {
	Lang, Other, OtherName                                       string
	Title, Heading, Intro, Simulator, Zone                       string
	AccountsLabel, Start                                         string
	LoginOf, Accounts, Ended, Live, LastRound, Logout            string
	Published, Denied, Time, Event, Account, Auth, What, None    string
	LoggedIn, LoggedOut                                          string
	ErrForm, ErrNoAccounts, ErrTooMany, ErrBadAccount            string
	ErrRate, ErrBusy, ErrState, ErrRefused, ErrNoCode            string
	ErrExchange, ErrScope, ErrKeep, ErrNoSuchLogin, ErrForbidden string
	// Words of the event summaries.
	Due, Balance, Interest, Calls, Changes, Reason, DaysLeft, ToPay string
}

var pageTexts = map[string]*texts{
	langSV: {
		Lang: langSV, Other: langEN, OtherName: "In English",
		Title:   "Skattekonto: logga in med BankID",
		Heading: "Hämta skattekonton med din egen inloggning",
		Intro: "För konton du själv får se (din enskilda firma, eller ett bolag du företräder), utan " +
			"organisationscertifikat. Du loggar in hos Skatteverket med BankID; tjänsten hämtar sedan kontona " +
			"med din inloggning så länge den gäller (ungefär en timme efter senaste förnyelsen, högst tio " +
			"förnyelser) och visar här vad som kom fram.",
		Simulator: "Simulator: den här tjänsten kör mot den inbyggda simulatorn, inte mot Skatteverket. " +
			"Inloggningen är ingen riktig BankID-inloggning och kontona är påhittade.",
		Zone:          "Tider i svensk tid (Europe/Stockholm).",
		AccountsLabel: "Organisationsnummer eller personnummer, åtskilda med mellanslag eller kommatecken:",
		Start:         "Logga in hos Skatteverket",
		LoginOf:       "Inloggning från %s",
		Accounts:      "Konton: %s",
		Ended:         "Inloggningen har avslutats %s (%s). Inga fler hämtningar görs med den: logga in igen för att fortsätta.",
		Live:          "Aktiv: förnyad %d gånger; åtkomsttoken gäller till %s, inloggningen till omkring %s.",
		LastRound:     "Senaste hämtningsbegärandena skickades %s.",
		Logout:        "Logga ut",
		Published:     "Hämtningsbegäranden skickade: %d.",
		Denied:        "Din inloggning ger inte åtkomst till: %s. De kontona hämtas inte med den.",
		Time:          "tid", Event: "händelse", Account: "konto", Auth: "behörighet", What: "vad",
		None:           "Inga händelser än.",
		LoggedIn:       "Inloggad: kontona hämtas med din inloggning.",
		LoggedOut:      "Utloggad.",
		ErrForm:        "Formuläret kunde inte läsas.",
		ErrNoAccounts:  "Ange minst ett organisationsnummer eller personnummer.",
		ErrTooMany:     "Högst 20 konton per inloggning.",
		ErrBadAccount:  "%s är inte ett giltigt organisationsnummer eller personnummer (%s).",
		ErrRate:        "För många inloggningar påbörjade härifrån: vänta en minut.",
		ErrBusy:        "Tjänsten har för många inloggningar på gång just nu: försök igen om några minuter.",
		ErrState:       "Den här inloggningen påbörjades inte i den här webbläsaren, eller tog för lång tid. Börja om.",
		ErrRefused:     "Skatteverket loggade inte in dig (%s).",
		ErrNoCode:      "Svaret från inloggningen saknade kod.",
		ErrExchange:    "Inloggningen kunde inte slutföras: %s. Börja om.",
		ErrScope:       "Inloggningen gav inte behörigheten %s som Skattekonto-API:t kräver.",
		ErrKeep:        "Inloggningen kunde inte sparas. Börja om.",
		ErrNoSuchLogin: "Ingen sådan inloggning i den här webbläsaren.",
		ErrForbidden:   "Sidan är inte öppen härifrån.",
		Due:            "förfaller ", Balance: "saldo ", Interest: "ränta ", Calls: "API-anrop ", Changes: "ändringar ",
		Reason: "orsak ", DaysLeft: "dagar kvar ", ToPay: "att betala ",
	},
	langEN: {
		Lang: langEN, Other: langSV, OtherName: "På svenska",
		Title:   "Skattekonto: log in with BankID",
		Heading: "Fetch tax accounts with your own login",
		Intro: "For accounts you may see as a person (your enskild firma, or a company you represent), without " +
			"an organisation certificate. You log in at Skatteverket with BankID; the service then fetches the " +
			"accounts with your login while it lasts (about an hour after the last refresh, at most ten " +
			"refreshes) and shows here what came out.",
		Simulator: "Simulator: this service runs against the built-in simulator, not Skatteverket. " +
			"The login is no real BankID login and the accounts are made up.",
		Zone:          "Times in Swedish time (Europe/Stockholm).",
		AccountsLabel: "Organisation numbers or personnummer, separated by spaces or commas:",
		Start:         "Log in at Skatteverket",
		LoginOf:       "Login of %s",
		Accounts:      "Accounts: %s",
		Ended:         "This login has ended at %s (%s). No more fetches are made with it: log in again to continue.",
		Live:          "Live: refreshed %d times; access token valid until %s, login until about %s.",
		LastRound:     "Last fetch requests at %s.",
		Logout:        "Log out",
		Published:     "Fetch requests published: %d.",
		Denied:        "Your login gives no access to: %s. Those accounts are not fetched with it.",
		Time:          "time", Event: "event", Account: "account", Auth: "auth", What: "what",
		None:           "No events yet.",
		LoggedIn:       "Logged in: the accounts are being fetched with your login.",
		LoggedOut:      "Logged out.",
		ErrForm:        "The form could not be read.",
		ErrNoAccounts:  "Enter at least one organisation number or personnummer.",
		ErrTooMany:     "At most 20 accounts per login.",
		ErrBadAccount:  "%s is not a valid organisation number or personnummer (%s).",
		ErrRate:        "Too many logins started from here: wait a minute.",
		ErrBusy:        "The service has too many logins under way: try again in a few minutes.",
		ErrState:       "This login was not started in this browser, or it took too long. Start again.",
		ErrRefused:     "Skatteverket did not log you in (%s).",
		ErrNoCode:      "The answer from the login carried no code.",
		ErrExchange:    "The login could not be completed: %s. Start again.",
		ErrScope:       "The login did not grant the scope %s that the Skattekonto API needs.",
		ErrKeep:        "The login could not be kept. Start again.",
		ErrNoSuchLogin: "No such login in this browser.",
		ErrForbidden:   "The page is not open from here.",
		Due:            "due ", Balance: "balance ", Interest: "interest ", Calls: "API calls ", Changes: "changes ",
		Reason: "reason ", DaysLeft: "days left ", ToPay: "to pay ",
	},
}

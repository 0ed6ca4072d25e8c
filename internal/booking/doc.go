// Package booking turns a booked tax-account transaction into a booking
// proposal for the ERP: a voucher against BAS account 1630 (Skattekonto)
// and a counter-account chosen by a versioned rule table of transaction
// texts.
//
// The default table ([Default]) is embedded from default-rules.json; a
// user may replace it with a file of the same form ([Load], [LoadFile]).
// Rules are tried in order and the first match decides. A rule names a
// counter-account, a different one for sole traders and one for positive
// amounts (refunds) where they differ, or marks the text as deliberately
// unmapped. Accounts on which public integrations disagree are named by
// a setting in braces ("{prelSkatt}", "{arbetsgivaravg}",
// "{slutligSkatt}", "{momsRefund}") and chosen by [Settings], whose zero
// value means the BAS defaults.
//
// A proposal is never a guess: an unknown text, a rule marked unmapped, a
// zero or absent beloppSkatteverket give status "unmapped" and no lines.
// A mapped proposal has exactly two lines in whole kronor that balance:
// a negative amount (a debit on the tax account) books D counter / K 1630,
// a positive one D 1630 / K counter.
//
// Rows with only beloppKronofogden are left unmapped. That money is a
// claim held by Kronofogden, not a movement on 1630, and the debt was
// booked on 1630 when Skatteverket debited it; booking the Kronofogden
// amount against 1630 again would count it twice. The ERP decides how it
// tracks debts at Kronofogden (for example on 2440 or a sub-account of
// 1630). Only beloppSkatteverket is booked when a row carries both.
package booking

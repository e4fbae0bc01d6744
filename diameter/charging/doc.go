// Package charging holds what 3GPP online (Ro) and offline (Rf) charging
// share: the Service-Information / IMS-Information AVPs of TS 32.299 §7.2
// and the IMS Service-Context-Id of TS 32.260. Packages ro and rf build on
// it.
package charging

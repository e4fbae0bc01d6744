package diameter

// Application identifiers (IANA "Application IDs" registry; 3GPP TS 29.230).
const (
	AppCommon         uint32 = 0          // Diameter common messages (RFC 6733)
	AppBaseAccounting uint32 = 3          // base accounting; 3GPP Rf (TS 32.299)
	AppCreditControl  uint32 = 4          // credit control (RFC 8506); 3GPP Ro (TS 32.299)
	AppCx             uint32 = 16777216   // 3GPP Cx/Dx (TS 29.229)
	AppSh             uint32 = 16777217   // 3GPP Sh (TS 29.329)
	AppRx             uint32 = 16777236   // 3GPP Rx (TS 29.214)
	AppRelay          uint32 = 0xffffffff // relay application (RFC 6733 §2.4)
)

// Vendor identifiers.
const (
	Vendor3GPP uint32 = 10415
	VendorETSI uint32 = 13019
)

// Base protocol command codes (RFC 6733 §3.1).
const (
	CmdCapabilitiesExchange uint32 = 257
	CmdReAuth               uint32 = 258
	CmdAccounting           uint32 = 271
	CmdCreditControl        uint32 = 272
	CmdAbortSession         uint32 = 274
	CmdSessionTermination   uint32 = 275
	CmdDeviceWatchdog       uint32 = 280
	CmdDisconnectPeer       uint32 = 282
)

// Header command flags (RFC 6733 §3).
const (
	FlagRequest       uint8 = 0x80
	FlagProxiable     uint8 = 0x40
	FlagError         uint8 = 0x20
	FlagRetransmitted uint8 = 0x10
)

// Result-Code values (RFC 6733 §7.1).
const (
	Success                uint32 = 2001
	LimitedSuccess         uint32 = 2002
	CommandUnsupported     uint32 = 3001
	UnableToDeliver        uint32 = 3002
	RealmNotServed         uint32 = 3003
	TooBusy                uint32 = 3004
	LoopDetected           uint32 = 3005
	RedirectIndication     uint32 = 3006
	ApplicationUnsupported uint32 = 3007
	InvalidHdrBits         uint32 = 3008
	InvalidAVPBits         uint32 = 3009
	UnknownPeer            uint32 = 3010
	AuthenticationRejected uint32 = 4001
	AVPUnsupported         uint32 = 5001
	UnknownSessionID       uint32 = 5002
	AuthorizationRejected  uint32 = 5003
	InvalidAVPValue        uint32 = 5004
	MissingAVP             uint32 = 5005
	ResourcesExceeded      uint32 = 5006
	NoCommonApplication    uint32 = 5010
	UnsupportedVersion     uint32 = 5011
	UnableToComply         uint32 = 5012
	InvalidAVPLength       uint32 = 5014
	InvalidMessageLength   uint32 = 5015
	NoCommonSecurity       uint32 = 5017
)

// Base protocol AVP codes used by this package (RFC 6733 §4.5).
const (
	codeUserName                    uint32 = 1
	codeHostIPAddress               uint32 = 257
	codeAuthApplicationID           uint32 = 258
	codeAcctApplicationID           uint32 = 259
	codeVendorSpecificApplicationID uint32 = 260
	codeSessionID                   uint32 = 263
	codeOriginHost                  uint32 = 264
	codeSupportedVendorID           uint32 = 265
	codeVendorID                    uint32 = 266
	codeFirmwareRevision            uint32 = 267
	codeResultCode                  uint32 = 268
	codeProductName                 uint32 = 269
	codeDisconnectCause             uint32 = 273
	codeOriginStateID               uint32 = 278
	codeFailedAVP                   uint32 = 279
	codeErrorMessage                uint32 = 281
	codeRouteRecord                 uint32 = 282
	codeDestinationRealm            uint32 = 283
	codeProxyInfo                   uint32 = 284
	codeDestinationHost             uint32 = 293
	codeOriginRealm                 uint32 = 296
	codeExperimentalResult          uint32 = 297
	codeExperimentalResultCode      uint32 = 298
)

// Exported base AVP codes that typed helpers in sub-packages share.
const (
	AVPUserName                           = codeUserName
	AVPAuthApplicationID                  = codeAuthApplicationID
	AVPAcctApplicationID                  = codeAcctApplicationID
	AVPVendorSpecificApplicationID        = codeVendorSpecificApplicationID
	AVPSessionID                          = codeSessionID
	AVPOriginHost                         = codeOriginHost
	AVPVendorID                           = codeVendorID
	AVPResultCode                         = codeResultCode
	AVPOriginRealm                        = codeOriginRealm
	AVPDestinationRealm                   = codeDestinationRealm
	AVPDestinationHost                    = codeDestinationHost
	AVPRouteRecord                        = codeRouteRecord
	AVPProxyInfo                          = codeProxyInfo
	AVPExperimentalResult                 = codeExperimentalResult
	AVPExperimentalResultCode             = codeExperimentalResultCode
	AVPErrorMessage                       = codeErrorMessage
	AVPFailedAVP                          = codeFailedAVP
	AVPAuthSessionState            uint32 = 277
	AVPTerminationCause            uint32 = 295
	AVPEventTimestamp              uint32 = 55
)

// Disconnect-Cause values (RFC 6733 §5.4.3).
const (
	DisconnectRebooting            uint32 = 0
	DisconnectBusy                 uint32 = 1
	DisconnectDoNotWantToTalkToYou uint32 = 2
)

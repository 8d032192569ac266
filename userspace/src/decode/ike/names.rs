//! Number → name tables for IKEv1 (RFC 2407/2408/2409 and later IANA "IPSEC Registry"/"ISAKMP
//! Registry") and IKEv2 (IANA "IKEv2 Parameters"). Names follow IANA spelling with underscores so
//! that one string means one thing in the report whichever version carried it; numbers the
//! registries do not name come back as `None` and the caller renders the raw number, or takes
//! one of the labels at the top here (`PAYLOAD_<n>`, `EXCHANGE_<n>`…), which do that for it.

use std::borrow::Cow;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use super::hex;

/// A Diffie-Hellman group by number and IANA name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub number: u16,
    /// `None` for unassigned numbers.
    pub name: Option<&'static str>,
}

impl Group {
    pub(super) fn new(number: u16) -> Self {
        Group { number, name: dh_group(number) }
    }

    /// IANA name, or `DH_<n>`.
    pub fn label(&self) -> String {
        self.name.map_or_else(|| format!("DH_{}", self.number), str::to_string)
    }

    /// Weak by RFC 8247 standards (MODP below 2048 bits, small-subgroup or small ECP groups).
    pub fn is_weak(&self) -> bool {
        dh_group_is_weak(self.number)
    }
}

/// IANA name of payload type `t`, or `PAYLOAD_<n>`.
pub fn payload_name(version: u8, t: u8) -> Cow<'static, str> {
    let n = if version == 1 { v1_payload(t) } else { v2_payload(t) };
    n.map_or_else(|| Cow::Owned(format!("PAYLOAD_{t}")), Cow::Borrowed)
}

/// IANA name of exchange type `t`, or `EXCHANGE_<n>`.
pub fn exchange_label(version: u8, t: u8) -> Cow<'static, str> {
    exchange_name(version, t).map_or_else(|| Cow::Owned(format!("EXCHANGE_{t}")), Cow::Borrowed)
}

/// IANA name of notify type `kind`, or `NOTIFY_<n>`.
pub fn notify_name(version: u8, kind: u16) -> Cow<'static, str> {
    known_notify(version, kind).map_or_else(|| Cow::Owned(format!("NOTIFY_{kind}")), Cow::Borrowed)
}

pub(super) fn known_notify(version: u8, kind: u16) -> Option<&'static str> {
    if version == 1 {
        v1_notify(kind)
    } else {
        v2_notify(kind)
    }
}

pub(super) fn exchange_name(version: u8, t: u8) -> Option<&'static str> {
    if version == 1 {
        v1_exchange(t)
    } else {
        v2_exchange(t)
    }
}

pub(super) fn known_payload(version: u8, t: u8) -> bool {
    if version == 1 {
        v1_payload(t).is_some()
    } else {
        v2_payload(t).is_some()
    }
}

pub(super) fn proto_name(p: u8) -> String {
    protocol(p).map_or_else(|| format!("PROTO_{p}"), str::to_string)
}

/// IKEv1 exchange types (RFC 2408 §3.1, RFC 2409, Mode-CFG draft for Transaction).
pub fn v1_exchange(n: u8) -> Option<&'static str> {
    Some(match n {
        0 => "NONE",
        1 => "BASE",
        2 => "MAIN_MODE",
        3 => "AUTH_ONLY",
        4 => "AGGRESSIVE",
        5 => "INFORMATIONAL",
        6 => "TRANSACTION",
        32 => "QUICK_MODE",
        33 => "NEW_GROUP",
        _ => return None,
    })
}

/// IKEv2 exchange types.
pub fn v2_exchange(n: u8) -> Option<&'static str> {
    Some(match n {
        34 => "IKE_SA_INIT",
        35 => "IKE_AUTH",
        36 => "CREATE_CHILD_SA",
        37 => "INFORMATIONAL",
        38 => "IKE_SESSION_RESUME",
        39 => "GSA_AUTH",
        40 => "GSA_REGISTRATION",
        41 => "GSA_REKEY",
        42 => "GSA_INBAND_REKEY",
        43 => "IKE_INTERMEDIATE",
        44 => "IKE_FOLLOWUP_KE",
        _ => return None,
    })
}

/// IKEv1 payload types, including the NAT-T ones (RFC 3947 and the pre-RFC private numbers
/// 130/131 still sent by old peers) and the vendor fragmentation payload 132.
pub fn v1_payload(n: u8) -> Option<&'static str> {
    Some(match n {
        1 => "SA",
        2 => "Proposal",
        3 => "Transform",
        4 => "KE",
        5 => "ID",
        6 => "CERT",
        7 => "CERTREQ",
        8 => "HASH",
        9 => "SIG",
        10 => "Nonce",
        11 => "Notify",
        12 => "Delete",
        13 => "VendorID",
        14 => "Attributes",
        15 => "SAK",
        16 => "SAT",
        17 => "KD",
        18 => "SEQ",
        19 => "POP",
        20 | 130 => "NAT-D",
        21 | 131 => "NAT-OA",
        132 => "Fragment",
        _ => return None,
    })
}

/// IKEv2 payload types.
pub fn v2_payload(n: u8) -> Option<&'static str> {
    Some(match n {
        33 => "SA",
        34 => "KE",
        35 => "IDi",
        36 => "IDr",
        37 => "CERT",
        38 => "CERTREQ",
        39 => "AUTH",
        40 => "Nonce",
        41 => "Notify",
        42 => "Delete",
        43 => "VendorID",
        44 => "TSi",
        45 => "TSr",
        46 => "Encrypted",
        47 => "CP",
        48 => "EAP",
        49 => "GSPM",
        50 => "IDg",
        51 => "GSA",
        52 => "KD",
        53 => "EncryptedFragment",
        54 => "PS",
        _ => return None,
    })
}

/// Protocol ids of proposals, notifies and deletes. IKEv1's PROTO_ISAKMP and IKEv2's IKE are the
/// same thing for the report, so both are "IKE".
pub fn protocol(n: u8) -> Option<&'static str> {
    Some(match n {
        1 => "IKE",
        2 => "AH",
        3 => "ESP",
        4 => "IPCOMP",
        5 => "GIGABEAM_RADIO",
        _ => return None,
    })
}

/// IKEv2 transform type 1 (also the naming used for IKEv1 ESP transform ids, which share the
/// numbers 1..23 with it).
pub fn v2_encr(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "DES_IV64",
        2 => "DES_CBC",
        3 => "3DES_CBC",
        4 => "RC5",
        5 => "IDEA",
        6 => "CAST",
        7 => "BLOWFISH",
        8 => "3IDEA",
        9 => "DES_IV32",
        10 => "RC4",
        11 => "NULL",
        12 => "AES_CBC",
        13 => "AES_CTR",
        14 => "AES_CCM_8",
        15 => "AES_CCM_12",
        16 => "AES_CCM_16",
        18 => "AES_GCM_8",
        19 => "AES_GCM_12",
        20 => "AES_GCM_16",
        21 => "NULL_AUTH_AES_GMAC",
        23 => "CAMELLIA_CBC",
        24 => "CAMELLIA_CTR",
        25 => "CAMELLIA_CCM_8",
        26 => "CAMELLIA_CCM_12",
        27 => "CAMELLIA_CCM_16",
        28 => "CHACHA20_POLY1305",
        29 => "AES_CCM_8_IIV",
        30 => "AES_GCM_16_IIV",
        31 => "CHACHA20_POLY1305_IIV",
        32 => "KUZNYECHIK_MGM_KTREE",
        33 => "MAGMA_MGM_KTREE",
        34 => "KUZNYECHIK_MGM_MAC_KTREE",
        35 => "MAGMA_MGM_MAC_KTREE",
        _ => return None,
    })
}

/// IKEv1 ESP transform ids differ from IKEv2 ENCR at 21 (SEED) and 22 (CAMELLIA) only.
pub fn v1_esp_transform(n: u8) -> Option<&'static str> {
    Some(match n {
        21 => "SEED_CBC",
        22 => "CAMELLIA_CBC",
        23 => "NULL_AUTH_AES_GMAC",
        _ => return v2_encr(u16::from(n)),
    })
}

/// IKEv2 transform type 2.
pub fn v2_prf(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "PRF_HMAC_MD5",
        2 => "PRF_HMAC_SHA1",
        3 => "PRF_HMAC_TIGER",
        4 => "PRF_AES128_XCBC",
        5 => "PRF_HMAC_SHA2_256",
        6 => "PRF_HMAC_SHA2_384",
        7 => "PRF_HMAC_SHA2_512",
        8 => "PRF_AES128_CMAC",
        9 => "PRF_HMAC_STREEBOG_512",
        _ => return None,
    })
}

/// IKEv2 transform type 3.
pub fn v2_integ(n: u16) -> Option<&'static str> {
    Some(match n {
        0 => "NONE",
        1 => "AUTH_HMAC_MD5_96",
        2 => "AUTH_HMAC_SHA1_96",
        3 => "AUTH_DES_MAC",
        4 => "AUTH_KPDK_MD5",
        5 => "AUTH_AES_XCBC_96",
        6 => "AUTH_HMAC_MD5_128",
        7 => "AUTH_HMAC_SHA1_160",
        8 => "AUTH_AES_CMAC_96",
        9 => "AUTH_AES_128_GMAC",
        10 => "AUTH_AES_192_GMAC",
        11 => "AUTH_AES_256_GMAC",
        12 => "AUTH_HMAC_SHA2_256_128",
        13 => "AUTH_HMAC_SHA2_384_192",
        14 => "AUTH_HMAC_SHA2_512_256",
        _ => return None,
    })
}

/// Diffie-Hellman groups: IKEv2 transform type 4 and IKEv1 "Group Description" share one
/// registry (IKEv2 leaves 3 and 4, the EC2N groups, reserved).
pub fn dh_group(n: u16) -> Option<&'static str> {
    Some(match n {
        0 => "NONE",
        1 => "MODP_768",
        2 => "MODP_1024",
        3 => "EC2N_155",
        4 => "EC2N_185",
        5 => "MODP_1536",
        14 => "MODP_2048",
        15 => "MODP_3072",
        16 => "MODP_4096",
        17 => "MODP_6144",
        18 => "MODP_8192",
        19 => "ECP_256",
        20 => "ECP_384",
        21 => "ECP_521",
        22 => "MODP_1024_160",
        23 => "MODP_2048_224",
        24 => "MODP_2048_256",
        25 => "ECP_192",
        26 => "ECP_224",
        27 => "ECP_224_BP",
        28 => "ECP_256_BP",
        29 => "ECP_384_BP",
        30 => "ECP_512_BP",
        31 => "CURVE25519",
        32 => "CURVE448",
        33 => "GOST3410_2012_256",
        34 => "GOST3410_2012_512",
        35 => "ML_KEM_512",
        36 => "ML_KEM_768",
        37 => "ML_KEM_1024",
        _ => return None,
    })
}

/// Groups a report may flag as weak (below 2048-bit MODP strength, or the small-subgroup ones
/// RFC 8247 says MUST NOT be used).
pub fn dh_group_is_weak(n: u16) -> bool {
    matches!(n, 1 | 2 | 3 | 4 | 5 | 22 | 23 | 24 | 25 | 26)
}

/// IKEv2 transform type 5.
pub fn v2_esn(n: u16) -> Option<&'static str> {
    Some(match n {
        0 => "NO_ESN",
        1 => "ESN",
        _ => return None,
    })
}

/// IKEv1 phase-1 attribute 1, encryption algorithm.
pub fn v1_encr(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "DES_CBC",
        2 => "IDEA_CBC",
        3 => "BLOWFISH_CBC",
        4 => "RC5_R16_B64_CBC",
        5 => "3DES_CBC",
        6 => "CAST_CBC",
        7 => "AES_CBC",
        8 => "CAMELLIA_CBC",
        _ => return None,
    })
}

/// IKEv1 phase-1 attribute 2, hash algorithm.
pub fn v1_hash(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "MD5",
        2 => "SHA1",
        3 => "TIGER",
        4 => "SHA2_256",
        5 => "SHA2_384",
        6 => "SHA2_512",
        _ => return None,
    })
}

/// IKEv1 phase-1 attribute 3, authentication method (RFC 2409, RFC 4754, XAUTH and hybrid
/// drafts' private numbers that every Cisco-compatible peer uses).
pub fn v1_auth_method(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "PSK",
        2 => "DSS_SIG",
        3 => "RSA_SIG",
        4 => "RSA_ENC",
        5 => "RSA_ENC_REV",
        6 => "ELGAMAL_ENC",
        7 => "ELGAMAL_ENC_REV",
        8 => "ECDSA_SIG",
        9 => "ECDSA_SHA256_P256",
        10 => "ECDSA_SHA384_P384",
        11 => "ECDSA_SHA512_P521",
        64221 => "HYBRID_INIT_RSA",
        64222 => "HYBRID_RESP_RSA",
        64223 => "HYBRID_INIT_DSS",
        64224 => "HYBRID_RESP_DSS",
        65001 => "XAUTH_INIT_PSK",
        65002 => "XAUTH_RESP_PSK",
        65003 => "XAUTH_INIT_DSS",
        65004 => "XAUTH_RESP_DSS",
        65005 => "XAUTH_INIT_RSA",
        65006 => "XAUTH_RESP_RSA",
        65007 => "XAUTH_INIT_RSA_ENC",
        65008 => "XAUTH_RESP_RSA_ENC",
        65009 => "XAUTH_INIT_RSA_ENC_REV",
        65010 => "XAUTH_RESP_RSA_ENC_REV",
        _ => return None,
    })
}

/// IKEv1 IPsec-DOI attribute 5 (AH/ESP authentication algorithm), named like the IKEv2
/// integrity transforms they correspond to.
pub fn v1_ipsec_auth(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "AUTH_HMAC_MD5_96",
        2 => "AUTH_HMAC_SHA1_96",
        3 => "AUTH_DES_MAC",
        4 => "AUTH_KPDK_MD5",
        5 => "AUTH_HMAC_SHA2_256_128",
        6 => "AUTH_HMAC_SHA2_384_192",
        7 => "AUTH_HMAC_SHA2_512_256",
        8 => "AUTH_HMAC_RIPEMD_160_96",
        9 => "AUTH_AES_XCBC_96",
        10 => "AUTH_SIG_RSA",
        11 => "AUTH_AES_128_GMAC",
        12 => "AUTH_AES_192_GMAC",
        13 => "AUTH_AES_256_GMAC",
        _ => return None,
    })
}

/// IKEv1 AH transform ids (RFC 2407 §4.4.3), named like the matching integrity transforms:
/// ids 2–4 are the authentication algorithms one number up, from 5 on they coincide.
pub fn v1_ah_transform(n: u8) -> Option<&'static str> {
    match n {
        2..=4 => v1_ipsec_auth(u16::from(n) - 1),
        5..=13 => v1_ipsec_auth(u16::from(n)),
        _ => None,
    }
}

/// IKEv1 IPCOMP transform ids.
pub fn v1_ipcomp_transform(n: u8) -> Option<&'static str> {
    Some(match n {
        1 => "IPCOMP_OUI",
        2 => "IPCOMP_DEFLATE",
        3 => "IPCOMP_LZS",
        4 => "IPCOMP_LZJH",
        _ => return None,
    })
}

/// IKEv1 IPsec-DOI attribute 4, encapsulation mode (with the NAT-T draft private values).
pub fn v1_encap_mode(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "TUNNEL",
        2 => "TRANSPORT",
        3 => "UDP_TUNNEL",
        4 => "UDP_TRANSPORT",
        61443 => "UDP_TUNNEL_DRAFT",
        61444 => "UDP_TRANSPORT_DRAFT",
        _ => return None,
    })
}

/// IKEv1 notify message types (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
pub fn v1_notify(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "INVALID_PAYLOAD_TYPE",
        2 => "DOI_NOT_SUPPORTED",
        3 => "SITUATION_NOT_SUPPORTED",
        4 => "INVALID_COOKIE",
        5 => "INVALID_MAJOR_VERSION",
        6 => "INVALID_MINOR_VERSION",
        7 => "INVALID_EXCHANGE_TYPE",
        8 => "INVALID_FLAGS",
        9 => "INVALID_MESSAGE_ID",
        10 => "INVALID_PROTOCOL_ID",
        11 => "INVALID_SPI",
        12 => "INVALID_TRANSFORM_ID",
        13 => "ATTRIBUTES_NOT_SUPPORTED",
        14 => "NO_PROPOSAL_CHOSEN",
        15 => "BAD_PROPOSAL_SYNTAX",
        16 => "PAYLOAD_MALFORMED",
        17 => "INVALID_KEY_INFORMATION",
        18 => "INVALID_ID_INFORMATION",
        19 => "INVALID_CERT_ENCODING",
        20 => "INVALID_CERTIFICATE",
        21 => "CERT_TYPE_UNSUPPORTED",
        22 => "INVALID_CERT_AUTHORITY",
        23 => "INVALID_HASH_INFORMATION",
        24 => "AUTHENTICATION_FAILED",
        25 => "INVALID_SIGNATURE",
        26 => "ADDRESS_NOTIFICATION",
        27 => "NOTIFY_SA_LIFETIME",
        28 => "CERTIFICATE_UNAVAILABLE",
        29 => "UNSUPPORTED_EXCHANGE_TYPE",
        30 => "UNEQUAL_PAYLOAD_LENGTHS",
        16384 => "CONNECTED",
        24576 => "RESPONDER_LIFETIME",
        24577 => "REPLAY_STATUS",
        24578 => "INITIAL_CONTACT",
        36136 => "R-U-THERE",
        36137 => "R-U-THERE-ACK",
        _ => return None,
    })
}

/// IKEv2 notify message types.
pub fn v2_notify(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "UNSUPPORTED_CRITICAL_PAYLOAD",
        4 => "INVALID_IKE_SPI",
        5 => "INVALID_MAJOR_VERSION",
        7 => "INVALID_SYNTAX",
        9 => "INVALID_MESSAGE_ID",
        11 => "INVALID_SPI",
        14 => "NO_PROPOSAL_CHOSEN",
        17 => "INVALID_KE_PAYLOAD",
        24 => "AUTHENTICATION_FAILED",
        34 => "SINGLE_PAIR_REQUIRED",
        35 => "NO_ADDITIONAL_SAS",
        36 => "INTERNAL_ADDRESS_FAILURE",
        37 => "FAILED_CP_REQUIRED",
        38 => "TS_UNACCEPTABLE",
        39 => "INVALID_SELECTORS",
        40 => "UNACCEPTABLE_ADDRESSES",
        41 => "UNEXPECTED_NAT_DETECTED",
        42 => "USE_ASSIGNED_HoA",
        43 => "TEMPORARY_FAILURE",
        44 => "CHILD_SA_NOT_FOUND",
        45 => "INVALID_GROUP_ID",
        46 => "AUTHORIZATION_FAILED",
        47 => "STATE_NOT_FOUND",
        16384 => "INITIAL_CONTACT",
        16385 => "SET_WINDOW_SIZE",
        16386 => "ADDITIONAL_TS_POSSIBLE",
        16387 => "IPCOMP_SUPPORTED",
        16388 => "NAT_DETECTION_SOURCE_IP",
        16389 => "NAT_DETECTION_DESTINATION_IP",
        16390 => "COOKIE",
        16391 => "USE_TRANSPORT_MODE",
        16392 => "HTTP_CERT_LOOKUP_SUPPORTED",
        16393 => "REKEY_SA",
        16394 => "ESP_TFC_PADDING_NOT_SUPPORTED",
        16395 => "NON_FIRST_FRAGMENTS_ALSO",
        16396 => "MOBIKE_SUPPORTED",
        16397 => "ADDITIONAL_IP4_ADDRESS",
        16398 => "ADDITIONAL_IP6_ADDRESS",
        16399 => "NO_ADDITIONAL_ADDRESSES",
        16400 => "UPDATE_SA_ADDRESSES",
        16401 => "COOKIE2",
        16402 => "NO_NATS_ALLOWED",
        16403 => "AUTH_LIFETIME",
        16404 => "MULTIPLE_AUTH_SUPPORTED",
        16405 => "ANOTHER_AUTH_FOLLOWS",
        16406 => "REDIRECT_SUPPORTED",
        16407 => "REDIRECT",
        16408 => "REDIRECTED_FROM",
        16409 => "TICKET_LT_OPAQUE",
        16410 => "TICKET_REQUEST",
        16411 => "TICKET_ACK",
        16412 => "TICKET_NACK",
        16413 => "TICKET_OPAQUE",
        16414 => "LINK_ID",
        16415 => "USE_WESP_MODE",
        16416 => "ROHC_SUPPORTED",
        16417 => "EAP_ONLY_AUTHENTICATION",
        16418 => "CHILDLESS_IKEV2_SUPPORTED",
        16419 => "QUICK_CRASH_DETECTION",
        16420 => "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
        16421 => "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
        16422 => "IKEV2_MESSAGE_ID_SYNC",
        16423 => "IPSEC_REPLAY_COUNTER_SYNC",
        16424 => "SECURE_PASSWORD_METHODS",
        16425 => "PSK_PERSIST",
        16426 => "PSK_CONFIRM",
        16427 => "ERX_SUPPORTED",
        16428 => "IFOM_CAPABILITY",
        16429 => "SENDER_REQUEST_ID",
        16430 => "IKEV2_FRAGMENTATION_SUPPORTED",
        16431 => "SIGNATURE_HASH_ALGORITHMS",
        16432 => "CLONE_IKE_SA_SUPPORTED",
        16433 => "CLONE_IKE_SA",
        16434 => "PUZZLE",
        16435 => "USE_PPK",
        16436 => "PPK_IDENTITY",
        16437 => "NO_PPK_AUTH",
        16438 => "INTERMEDIATE_EXCHANGE_SUPPORTED",
        16439 => "IP4_ALLOWED",
        16440 => "IP6_ALLOWED",
        16441 => "ADDITIONAL_KEY_EXCHANGE",
        16442 => "USE_AGGFRAG",
        _ => return None,
    })
}

/// RFC 7427 hash algorithms carried in SIGNATURE_HASH_ALGORITHMS.
pub fn v2_sig_hash(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "SHA1",
        2 => "SHA2_256",
        3 => "SHA2_384",
        4 => "SHA2_512",
        5 => "IDENTITY",
        6 => "STREEBOG_256",
        7 => "STREEBOG_512",
        _ => return None,
    })
}

/// Identification types: IKEv2's registry, with IKEv1's extra subnet/range/list types, which
/// occupy numbers IKEv2 left unassigned (IKEv1 3 USER_FQDN is IKEv2's RFC822_ADDR).
pub fn id_type(version: u8, n: u8) -> Option<&'static str> {
    Some(match (version, n) {
        (_, 1) => "ID_IPV4_ADDR",
        (_, 2) => "ID_FQDN",
        (_, 3) => "ID_RFC822_ADDR",
        (1, 4) => "ID_IPV4_ADDR_SUBNET",
        (_, 5) => "ID_IPV6_ADDR",
        (1, 6) => "ID_IPV6_ADDR_SUBNET",
        (1, 7) => "ID_IPV4_ADDR_RANGE",
        (1, 8) => "ID_IPV6_ADDR_RANGE",
        (_, 9) => "ID_DER_ASN1_DN",
        (_, 10) => "ID_DER_ASN1_GN",
        (_, 11) => "ID_KEY_ID",
        (1, 12) => "ID_LIST",
        (2, 12) => "ID_FC_NAME",
        (2, 13) => "ID_NULL",
        _ => return None,
    })
}

/// Configuration payload types (IKEv2 CP and IKEv1 Mode-CFG share 1..4).
pub fn cfg_type(n: u8) -> Option<&'static str> {
    Some(match n {
        1 => "CFG_REQUEST",
        2 => "CFG_REPLY",
        3 => "CFG_SET",
        4 => "CFG_ACK",
        _ => return None,
    })
}

/// Configuration attributes: IKEv2 registry (RFC 7296, 7651 P-CSCF, …) plus IKEv1 Mode-CFG's
/// XAUTH (16520..) and Cisco Unity (28672..) private ranges, which IKEv2 peers never send.
pub fn cfg_attribute(n: u16) -> Option<&'static str> {
    Some(match n {
        1 => "INTERNAL_IP4_ADDRESS",
        2 => "INTERNAL_IP4_NETMASK",
        3 => "INTERNAL_IP4_DNS",
        4 => "INTERNAL_IP4_NBNS",
        5 => "INTERNAL_ADDRESS_EXPIRY",
        6 => "INTERNAL_IP4_DHCP",
        7 => "APPLICATION_VERSION",
        8 => "INTERNAL_IP6_ADDRESS",
        9 => "INTERNAL_IP6_NETMASK",
        10 => "INTERNAL_IP6_DNS",
        11 => "INTERNAL_IP6_NBNS",
        12 => "INTERNAL_IP6_DHCP",
        13 => "INTERNAL_IP4_SUBNET",
        14 => "SUPPORTED_ATTRIBUTES",
        15 => "INTERNAL_IP6_SUBNET",
        16 => "MIP6_HOME_PREFIX",
        17 => "INTERNAL_IP6_LINK",
        18 => "INTERNAL_IP6_PREFIX",
        19 => "HOME_AGENT_ADDRESS",
        20 => "P_CSCF_IP4_ADDRESS",
        21 => "P_CSCF_IP6_ADDRESS",
        22 => "FTT_KAT",
        23 => "EXTERNAL_SOURCE_IP4_NAT_INFO",
        24 => "TIMEOUT_PERIOD_FOR_LIVENESS_CHECK",
        25 => "INTERNAL_DNS_DOMAIN",
        26 => "INTERNAL_DNSSEC_TA",
        27 => "ENCDNS_IP4",
        28 => "ENCDNS_IP6",
        29 => "ENCDNS_DIGEST_INFO",
        16520 => "XAUTH_TYPE",
        16521 => "XAUTH_USER_NAME",
        16522 => "XAUTH_USER_PASSWORD",
        16523 => "XAUTH_PASSCODE",
        16524 => "XAUTH_MESSAGE",
        16525 => "XAUTH_CHALLENGE",
        16526 => "XAUTH_DOMAIN",
        16527 => "XAUTH_STATUS",
        16528 => "XAUTH_NEXT_PIN",
        16529 => "XAUTH_ANSWER",
        28672 => "UNITY_BANNER",
        28673 => "UNITY_SAVE_PASSWD",
        28674 => "UNITY_DEF_DOMAIN",
        28675 => "UNITY_SPLIT_DNS",
        28676 => "UNITY_SPLIT_INCLUDE",
        28677 => "UNITY_NATT_PORT",
        28678 => "UNITY_LOCAL_LAN",
        28679 => "UNITY_PFS",
        28680 => "UNITY_FW_TYPE",
        28681 => "UNITY_BACKUP_SERVERS",
        28682 => "UNITY_DDNS_HOSTNAME",
        _ => return None,
    })
}

/// Vendor IDs matched on their whole value. Most are MD5 digests of a product string, checked
/// here against `printf '%s' STRING | md5sum`.
const VID_EXACT: &[(&str, &str)] = &[
    ("882fe56d6fd20dbc2251613b2ebe5beb", "strongSwan"),
    ("4a131c81070358455c5728f20e95452f", "RFC 3947 NAT-T"),
    ("4df37928e9fc4fd1b3262170d515c662", "draft-ietf-ipsec-nat-t-ike"),
    ("4485152d18b6bbcd0be8a8469579ddcc", "draft-ietf-ipsec-nat-t-ike-00"),
    ("16f6ca16e4a4066d83821a0f0aeaa862", "draft-ietf-ipsec-nat-t-ike-01"),
    ("cd60464335df21f87cfdb2fc68b6a448", "draft-ietf-ipsec-nat-t-ike-02"),
    // MD5 of the draft name with a trailing newline, as the draft itself printed it.
    ("90cb80913ebb696e086381b5ec427b1f", "draft-ietf-ipsec-nat-t-ike-02\\n"),
    ("7d9419a65310ca6f2c179d9215529d56", "draft-ietf-ipsec-nat-t-ike-03"),
    ("9909b64eed937c6573de52ace952fa6b", "draft-ietf-ipsec-nat-t-ike-04"),
    ("80d0bb3def54565ee84645d4c85ce3ee", "draft-ietf-ipsec-nat-t-ike-05"),
    ("4d1e0e136deafa34c4f3ea9f02ec7285", "draft-ietf-ipsec-nat-t-ike-06"),
    ("439b59f8ba676c4c7737ae22eab8f582", "draft-ietf-ipsec-nat-t-ike-07"),
    ("8f8d83826d246b6fc7a8a6a428c11de8", "draft-ietf-ipsec-nat-t-ike-08"),
    ("42ea5b6f898d9773a575df26e7dd19e1", "draft-ietf-ipsec-nat-t-ike-09"),
    ("27bab5dc01ea0760ea4e3190ac27c0d0", "draft-stenberg-ipsec-nat-traversal-01"),
    ("6105c422e76847e43f9684801292aecd", "draft-stenberg-ipsec-nat-traversal-02"),
    ("6a7434c19d7e36348090a02334c9c805", "draft-huttunen-ipsec-esp-in-udp-00"),
    ("50760f624c63e5c53eea386c685ca083", "ESPThruNAT"),
    ("12f5f28c457168a9702d9fe274cc0100", "Cisco Unity"),
    ("09002689dfd6b712", "XAUTH"),
    ("09002689dfd6b71280a224dec33b81e5", "XAUTH"),
    ("26244d38eddb61b3172a36e3d0cfb819", "Microsoft Vid-Initial-Contact"),
    ("fb1de3cdf341b7ea16b7e5be0855f120", "MS-Negotiation Discovery Capable"),
    ("e3a5966a76379fe707228231e5ce8652", "IKE CGA version 1"),
    ("214ca4faffa7f32d6748e5303395ae83", "MS-MamieExists"),
    ("ad2c0dd0b9c32083ccba25b8861ec455", "GSS-API Authentication Method for IKE"),
    ("b46d8914f3aaa3f2fedeb7c7db2943ca", "GSS-API Authentication Method for IKE"),
    ("621b04bb09882ac1e15935fefa24aeee", "GSSAPI"),
    ("7003cbc1097dbe9c2600ba6983bc8b35", "KAME/racoon"),
    ("20a3622c1cea7ce37bee3ca484425276", "IPsec-Tools"),
    ("f14b94b7bff1fef02773b8c49feded26", "Shrew Soft"),
    ("3b9031dce4fcf88b489a923963dd0c49", "DPDv1_NG"),
    ("8404adf9cda05760b2ca292e4bff537b", "Sidewinder"),
    ("404bf439522ca3f6", "SonicWall"),
    ("da8e937880010000", "WatchGuard"),
    ("c40fee00d5d39ddb1fc762e09b7cfea7", "Testing NAT-T RFC"),
    ("299ee8289f40a8973bc78687e2e7226b532c3b76", "Juniper NetScreen"),
    ("3a15e1f3cf2a63582e3ac82d1c64cbe3b6d779e7", "Juniper NetScreen"),
    ("47d2b126bfcd83489760e2cf8c5d4d5a03497c15", "Juniper NetScreen"),
    ("4a4340b543e02b84c88a8b96a8af9ebe77d9accc", "Juniper NetScreen"),
    ("64405f46f03b7660a23be116a1975058e69e8387", "Juniper NetScreen"),
    ("699369228741c6d4ca094c93e242c9de19e7b7c6", "Juniper NetScreen"),
    ("8c0dc6cf62a0ef1b5c6eabd1b67ba69866adf16a", "Juniper NetScreen"),
    ("92d27a9ecb31d99246986d3453d0c3d57a222a61", "Juniper NetScreen"),
    ("9b096d9ac3275a7d6fe8b91c583111b09efed1a0", "Juniper NetScreen"),
    ("bf03746108d746c904f1f3547de24f78479fed12", "Juniper NetScreen"),
    ("c2e80500f4cc5fbf5daaeed3bb59abaeee56c652", "Juniper NetScreen"),
    ("c8660a62b03b1b6130bf781608d32a6a8d0fb89f", "Juniper NetScreen"),
    ("f885da40b1e7a9abd17655ec5bbec0f21f0ed52e", "Juniper NetScreen"),
    ("2a2bcac19b8e91b426107807e02e7249569d6fd3", "Juniper NetScreen"),
    ("166f932d55eb64d8e4df4fd37e2313f0d0fd8451", "Juniper NetScreen"),
    ("a35bfd05ca1ac0b3d2f24e9e82bfcbff9c9e52b5", "Juniper NetScreen"),
    ("625027749d5ab97f5616c1602765cf480a3b7d0b", "ZyXEL ZyWALL"),
];

/// Vendor IDs whose first bytes identify the product and whose tail carries a version or
/// capability flags (DPD's minor version, the FRAGMENTATION flags word, Windows' build number).
const VID_PREFIX: &[(&str, &str)] = &[
    ("afcad71368a1f1c96b8696fc7757", "DPD (RFC 3706)"),
    ("4048b7d56ebce88525e7de7f00d6c2d3", "FRAGMENTATION"),
    ("f4ed19e0c114eb516faaac0ee37daf2807b4381f", "Check Point"),
    ("8299031757a36082c6a621de", "Fortinet FortiGate"),
    ("1f07f70eaa6514d3b0fa96542a50", "Cisco VPN 3000"),
    ("3e984048", "Cisco IOS"),
    ("4865617274426561745f4e6f74696679", "HeartBeat Notify"),
];

/// strongSwan's pluto (2.x and 4.x) sent MD5("strongSwan X.Y.Z"); digests computed with md5sum
/// for the releases peers' tables list.
const VID_STRONGSWAN_VERSIONS: &[(&str, &str)] = &[
    ("85b6cbec480d5c8cd9882c825ac2c244", "strongSwan 2.2.0"),
    ("d9118b1e9de5efced9cc9d883f2168ff", "strongSwan 2.2.1"),
    ("99dc7cc823376b3b33d04357896ae07b", "strongSwan 2.2.2"),
    ("b8f92b2fa2d3fe5fe158344bda1cc6ae", "strongSwan 2.3.0"),
    ("f697c1afcc2ec8ddcdf99dc7af03a67f", "strongSwan 2.3.1"),
    ("42a4834c92ab9a7777063afa254bcb69", "strongSwan 2.3.2"),
    ("e829c88149bab3c0cee85da60e18ae9b", "strongSwan 2.4.0"),
    ("75b0653cb281eb26d31ede38c8e1e228", "strongSwan 2.4.1"),
    ("e7a3fd0c6d771a8f1b8a86a4169c9ea4", "strongSwan 2.4.2"),
    ("982b7a063a33c143a8eadc88249f6bcc", "strongSwan 2.4.3"),
    ("485a70361b4433b31dea1c6be0df243e", "strongSwan 2.4.4"),
    ("9eb3d907ed7ada4e3cbcacb917abc8e4", "strongSwan 2.5.0"),
    ("9a4a4648f60f8eda7cfcbfe271ee5b7d", "strongSwan 2.5.1"),
    ("861ce5eb72164b190e9e629a31cf4901", "strongSwan 2.5.2"),
    ("df5b1f0f1d5679d9f8512b16c55a6065", "strongSwan 2.5.3"),
    ("7a6bf5b7df89642a75a78ef7d657c1c0", "strongSwan 2.5.4"),
    ("3f267ed621ada7ee6c7d8893ccb0b14b", "strongSwan 2.5.5"),
    ("3c5eba3d8564928e32ae43c3d9924dee", "strongSwan 2.5.6"),
    ("1f4442296b83d7e33a8b45209ba0e590", "strongSwan 2.5.7"),
    ("3f3266499ffdbd85950e702298062844", "strongSwan 2.6.0"),
    ("66afbc12bbfe6ce108b1f69f4bc917b7", "strongSwan 2.6.1"),
    ("5b1cd6fe7d050eda6c93871c107db3d2", "strongSwan 2.6.2"),
    ("b2860e7837f711bef3d0eeb106872ded", "strongSwan 2.6.3"),
    ("b927f95219a0fe3600dba3c1182ae55f", "strongSwan 2.6.4"),
    ("07fa128e4754f9447b1dd46374eef360", "strongSwan 2.7.0"),
    ("8134878582121785ba65ea345d6ba724", "strongSwan 2.7.1"),
    ("a194e2aaddd0bafb95253dd96dc733eb", "strongSwan 2.7.2"),
    ("7f50cc4ebf04c2d9da73abfd69b77aa2", "strongSwan 2.7.3"),
    ("32f0e9b9c06dfe8c9ad5599a636971a1", "strongSwan 2.8.0"),
    ("e37f2d5ba89a62cd202ee27dac06c8a8", "strongSwan 2.8.1"),
    ("299932277b7dfe382ce23465333a7d23", "strongSwan 2.8.2"),
    ("fb4641ad0eeb2a34491d15f4eff51063", "strongSwan 2.8.3"),
    ("76c72bfd398424dd001b86d0012fe061", "strongSwan 2.8.4"),
    ("4c7efa31b39e510432a317570d97bbb9", "strongSwan 2.8.5"),
    ("fe3f49706e26a9fb36a87bfce9ea36ce", "strongSwan 2.8.6"),
    ("3a0d4e7ca4e492ed4dfe476d1ac6018b", "strongSwan 2.8.7"),
    ("8c4a3bcb729b11f703d22a5b39640ca8", "strongSwan 2.8.8"),
    ("2ce9c946a4c879bf11b50b76cc5692cb", "strongSwan 4.0.0"),
    ("9dbbafcf1db0dd595ae065294003ad3e", "strongSwan 4.0.1"),
    ("77e8eea6f556a499de3ffe7f7f95661c", "strongSwan 4.0.2"),
    ("b181b18e114fc209b3c6e26c3a80718e", "strongSwan 4.0.3"),
    ("1ef283f83549b5ff9608b6d634f84d75", "strongSwan 4.0.4"),
    ("dd180d21e5ce655a768ba32211dd8ad9", "strongSwan 4.0.5"),
    ("4c90136946577b51919d8d9a6b8e4a9f", "strongSwan 4.0.6"),
    ("ab0746221cc8fd0d5238f73a9b3da557", "strongSwan 4.0.7"),
    ("4794cef6843422980d1a3d06af41c5cd", "strongSwan 4.1.0"),
    ("d3f1c488c368175d5f40a8f5ca5f5e12", "strongSwan 4.1.1"),
    ("15a1ace7ee52fddfef04f928db2dd134", "strongSwan 4.1.2"),
    ("5849ab6d8beabd6e4d09e5a3b88c089a", "strongSwan 4.1.3"),
    ("312f9cb1a6b90e19de7528c904ac3087", "strongSwan 4.1.4"),
    ("bf0fbf7306ebb7827042d893539886e2", "strongSwan 4.1.5"),
    ("d19683368af4b0edc21ccde982b1d1b0", "strongSwan 4.1.6"),
    ("ea840aa4dfc9712d6c32b5a16eb329a3", "strongSwan 4.1.7"),
    ("66a2045507c119da78a4666259cdea48", "strongSwan 4.1.8"),
    ("78fdd287def01a3f074b5369eab4fd1c", "strongSwan 4.1.9"),
    ("bf3a89ae5bef8e72d44dac8bb88d7d5f", "strongSwan 4.1.10"),
    ("b7bd9f2f978e3259a7aa9f7a1396ad6c", "strongSwan 4.1.11"),
    ("9f68901325a972894335302a9531ab9f", "strongSwan 4.2.0"),
    ("bab253f4cb10a8108a7c927c56c87886", "strongSwan 4.2.1"),
    ("2a517d0d23c37d08bce7c292a0217b39", "strongSwan 4.2.2"),
    ("2d1f406118fbd5d28474791ffa00488a", "strongSwan 4.2.3"),
];

/// Windows versions in the 4-byte tail of the MS NT5 ISAKMPOAKLEY vendor ID ([MS-IKEE]).
fn windows_version(v: u32) -> Option<&'static str> {
    Some(match v {
        2 => "Windows 2000",
        3 => "Windows XP",
        4 => "Windows Server 2003",
        5 => "Windows Vista",
        6 => "Windows Server 2008",
        7 => "Windows 7",
        8 => "Windows Server 2008 R2",
        9 => "Windows 8 / Server 2012",
        _ => return None,
    })
}

fn printable(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&c| (0x20..0x7f).contains(&c))
}

/// Value of one lower-case hex digit; the tables above are checked to hold nothing else.
fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c.wrapping_sub(b'a').wrapping_add(10),
    }
}

fn unhex(h: &str) -> Vec<u8> {
    h.as_bytes().chunks_exact(2).map(|c| (nibble(c[0]) << 4) | nibble(c[1])).collect()
}

/// `b` begins with the bytes that the even-length hex string `prefix` spells.
fn starts_with_hex(b: &[u8], prefix: &str) -> bool {
    let p = prefix.as_bytes();
    p.len() <= 2 * b.len() && p.chunks_exact(2).zip(b).all(|(c, &x)| (nibble(c[0]) << 4) | nibble(c[1]) == x)
}

/// The whole-value tables keyed by their bytes, built on first use. Every IKE_SA_INIT and Main
/// Mode message carries vendor IDs; one hash lookup replaces hex-encoding each of them and
/// comparing the text with every entry. The first entry wins should a digest repeat.
fn exact_vids() -> &'static FxHashMap<Vec<u8>, &'static str> {
    static TABLE: OnceLock<FxHashMap<Vec<u8>, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = VID_EXACT.len() + VID_STRONGSWAN_VERSIONS.len();
        let mut t = FxHashMap::with_capacity_and_hasher(n, Default::default());
        for (k, name) in VID_EXACT.iter().chain(VID_STRONGSWAN_VERSIONS) {
            t.entry(unhex(k)).or_insert(*name);
        }
        t
    })
}

/// The name the report shows for a vendor ID: a known product, the text itself when the VID is
/// plain ASCII (Cisco's IKEv2 VIDs, Libreswan's "OE-Libreswan-…"), else `unknown:` + hex of at
/// most the first 16 bytes.
pub fn vendor_id(b: &[u8]) -> String {
    vendor_id_name(b).into_owned()
}

/// [`vendor_id`] without an allocation for the known products, for callers that keep the name
/// only when it is new to them.
pub fn vendor_id_name(b: &[u8]) -> Cow<'static, str> {
    if let Some(name) = exact_vids().get(b) {
        return Cow::Borrowed(*name);
    }
    const MS_NT5: &str = "1e2b516905991c7d7c96fcbfb587e461";
    if starts_with_hex(b, MS_NT5) {
        let ver = b.get(16..20).and_then(|t| Some(u32::from_be_bytes(t.try_into().ok()?)));
        return match ver.and_then(windows_version) {
            Some(w) => Cow::Owned(format!("Microsoft {w}")),
            None if b.len() == MS_NT5.len() / 2 => Cow::Borrowed("Microsoft Windows"),
            None => Cow::Owned(format!("Microsoft Windows (v{})", ver.unwrap_or(0))),
        };
    }
    if let Some((_, name)) = VID_PREFIX.iter().find(|(k, _)| starts_with_hex(b, k)) {
        return Cow::Borrowed(*name);
    }
    if let Some(rest) = b.strip_prefix(b"OE-Libreswan-") {
        return if printable(rest) {
            Cow::Owned(format!("Libreswan {}", clipped(rest)))
        } else {
            Cow::Borrowed("Libreswan")
        };
    }
    // Cisco IKEv2 peers announce capabilities as plain-text VIDs.
    let cisco_text: &[(&[u8], &str)] = &[
        (b"FLEXVPN-SUPPORTED", "Cisco FlexVPN"),
        (b"CISCO-DELETE-REASON", "Cisco Delete Reason"),
        (b"CISCOVPN-REV-02", "Cisco VPN Revision 2"),
        (b"CISCO-DYNAMIC-ROUTE", "Cisco Dynamic Route"),
        (b"CISCO-GRE-MODE", "Cisco GRE Mode"),
    ];
    if let Some((_, name)) = cisco_text.iter().find(|(t, _)| *t == b) {
        return Cow::Borrowed(*name);
    }
    if b.starts_with(b"CISCO(COPYRIGHT)") {
        return Cow::Borrowed("Cisco Copyright");
    }
    // Openswan (and Libreswan before 3.6) send "OE" plus ten base64-ish characters.
    if b.len() == 12 && b.starts_with(b"OE") && printable(b) {
        return Cow::Borrowed("Openswan/Libreswan");
    }
    if printable(b) && b.len() >= 4 {
        return Cow::Owned(clipped(b));
    }
    let shown = b.get(..16).unwrap_or(b);
    Cow::Owned(format!("unknown:{}", hex(shown)))
}

/// Characters of a plain-text vendor ID kept as its name: real ones are short product
/// strings; a payload can carry 64 kB, and an SA names up to 32 of them.
const MAX_VID_TEXT: usize = 64;

/// Printable ASCII `b` as text, cut after [`MAX_VID_TEXT`] characters with the number of
/// bytes left out.
fn clipped(b: &[u8]) -> String {
    let shown = String::from_utf8_lossy(b.get(..MAX_VID_TEXT).unwrap_or(b)).into_owned();
    if b.len() > MAX_VID_TEXT {
        format!("{shown}… ({} more bytes)", b.len() - MAX_VID_TEXT)
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_vendor_ids_are_cut() {
        let long = [b'v'; 300];
        let name = vendor_id(&long);
        assert_eq!(name, format!("{}… (236 more bytes)", "v".repeat(64)));
        let mut lsw = b"OE-Libreswan-".to_vec();
        lsw.extend_from_slice(&[b'4'; 100]);
        assert_eq!(vendor_id(&lsw), format!("Libreswan {}… (36 more bytes)", "4".repeat(64)));
        assert_eq!(vendor_id(b"short text"), "short text");
    }

    #[test]
    fn vendor_ids_from_corpus_main_mode() {
        // From ikev1_main_mode.pcap, names as Zeek's spicy-ipsec analyzer reports them.
        let vid = |s: &str| {
            let b: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
            vendor_id(&b)
        };
        assert_eq!(vid("4a131c81070358455c5728f20e95452f"), "RFC 3947 NAT-T");
        assert_eq!(vid("439b59f8ba676c4c7737ae22eab8f582"), "draft-ietf-ipsec-nat-t-ike-07");
        assert_eq!(vid("7d9419a65310ca6f2c179d9215529d56"), "draft-ietf-ipsec-nat-t-ike-03");
        assert_eq!(vid("90cb80913ebb696e086381b5ec427b1f"), "draft-ietf-ipsec-nat-t-ike-02\\n");
        assert_eq!(vid("afcad71368a1f1c96b8696fc77570100"), "DPD (RFC 3706)");
        assert_eq!(vid("09002689dfd6b712"), "XAUTH");
        assert_eq!(vid("12f5f28c457168a9702d9fe274cc0100"), "Cisco Unity");
        assert_eq!(vid("11bdfe02d056587f2c18125972c32401"), "unknown:11bdfe02d056587f2c18125972c32401");
        assert_eq!(vid("4048b7d56ebce88525e7de7f00d6c2d3c0000000"), "FRAGMENTATION");
        assert_eq!(vid("882fe56d6fd20dbc2251613b2ebe5beb"), "strongSwan");
        assert_eq!(vid("8299031757a36082c6a621de00000000"), "Fortinet FortiGate");
        assert_eq!(vid("1e2b516905991c7d7c96fcbfb587e46100000007"), "Microsoft Windows 7");
        assert_eq!(vendor_id(b"FLEXVPN-SUPPORTED"), "Cisco FlexVPN");
        assert_eq!(vendor_id(b"OE-Libreswan-4.12"), "Libreswan 4.12");
        assert_eq!(vendor_id(&[]), "unknown:");
    }

    #[test]
    fn strongswan_version_table_is_md5_of_name() {
        // Spot check against `printf 'strongSwan 4.1.0' | md5sum`.
        assert!(VID_STRONGSWAN_VERSIONS.len() > 50);
        let b: Vec<u8> = (0..32)
            .step_by(2)
            .map(|i| u8::from_str_radix(&"4794cef6843422980d1a3d06af41c5cd"[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(vendor_id(&b), "strongSwan 4.1.0");
        assert!(VID_STRONGSWAN_VERSIONS.iter().all(|(h, n)| h.len() == 32 && n.starts_with("strongSwan ")));
    }

    #[test]
    fn vid_tables_are_lower_case_hex_of_whole_bytes() {
        let keys = VID_EXACT.iter().chain(VID_STRONGSWAN_VERSIONS).chain(VID_PREFIX);
        for (k, _) in keys {
            assert!(k.len() % 2 == 0 && k.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')), "{k}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(dh_group(31), Some("CURVE25519"));
        assert_eq!(dh_group(19), Some("ECP_256"));
        assert_eq!(v2_notify(16390), Some("COOKIE"));
        assert_eq!(v1_notify(36136), Some("R-U-THERE"));
        assert_eq!(cfg_attribute(20), Some("P_CSCF_IP4_ADDRESS"));
        assert_eq!(v2_exchange(43), Some("IKE_INTERMEDIATE"));
        assert_eq!(v1_exchange(32), Some("QUICK_MODE"));
        assert_eq!(v1_esp_transform(12), Some("AES_CBC"));
    }
}

#[cfg(test)]
mod ah_tests {
    use super::v1_ah_transform;

    #[test]
    fn ah_transform_ids_name_the_integrity_algorithm() {
        assert_eq!(v1_ah_transform(1), None);
        assert_eq!(v1_ah_transform(2), Some("AUTH_HMAC_MD5_96"));
        assert_eq!(v1_ah_transform(3), Some("AUTH_HMAC_SHA1_96"));
        assert_eq!(v1_ah_transform(4), Some("AUTH_DES_MAC"));
        assert_eq!(v1_ah_transform(5), Some("AUTH_HMAC_SHA2_256_128"));
        assert_eq!(v1_ah_transform(13), Some("AUTH_AES_256_GMAC"));
        assert_eq!(v1_ah_transform(14), None);
    }
}

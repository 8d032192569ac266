//! Who a peer is: its autonomous system and organisation from an offline ASN database in the
//! MaxMind DB format (GeoLite2-ASN, DB-IP's ASN Lite), read with the `maxminddb` crate. Nothing
//! is looked up on the network.

use std::net::IpAddr;
use std::path::Path;

/// What the database says of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsnInfo {
    pub asn: Option<u32>,
    pub org: Option<String>,
    /// The database's network holding the address.
    pub network: String,
}

pub struct AsnDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl AsnDb {
    /// Opens `path`; the error says what is wrong with it.
    pub fn open(path: &Path) -> Result<AsnDb, String> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| {
            format!("{}: not a readable MaxMind DB (GeoLite2-ASN, DB-IP ASN Lite): {e}", path.display())
        })?;
        Ok(AsnDb { reader })
    }

    /// The database's own name of its kind (`GeoLite2-ASN`, `DBIP-ASN-Lite (compat=GeoLite2-ASN)`).
    pub fn kind(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The AS of `ip`; `None` when the database has no entry for it (private and
    /// documentation ranges, an IPv6 address in an IPv4-only database).
    pub fn lookup(&self, ip: IpAddr) -> Option<AsnInfo> {
        let found = self.reader.lookup(ip).ok()?;
        if !found.has_data() {
            return None;
        }
        let asn: maxminddb::geoip2::Asn = found.decode().ok()??;
        if asn.autonomous_system_number.is_none() && asn.autonomous_system_organization.is_none() {
            return None;
        }
        Some(AsnInfo {
            asn: asn.autonomous_system_number,
            org: asn.autonomous_system_organization.map(str::to_string),
            network: found.network().map(|n| n.to_string()).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
#[path = "../../../tests/common/mmdb.rs"]
mod mmdb;

#[cfg(test)]
mod tests {
    use super::*;

    use super::mmdb;

    #[test]
    fn peers_are_named_from_a_database_we_wrote() {
        let db = mmdb::asn_db(&[
            ([198, 18, 0, 0], 30, 64500, "Example Carrier ePDG"),
            ([198, 19, 0, 0], 16, 64501, "Example IMS"),
        ]);
        let dir = std::env::temp_dir().join(format!("tuntrace-asn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("asn.mmdb");
        std::fs::write(&path, &db).unwrap();
        let asn = AsnDb::open(&path).unwrap();
        assert_eq!(asn.kind(), "GeoLite2-ASN");
        assert_eq!(
            asn.lookup("198.18.0.1".parse().unwrap()),
            Some(AsnInfo {
                asn: Some(64500),
                org: Some("Example Carrier ePDG".into()),
                network: "198.18.0.0/30".into()
            })
        );
        assert_eq!(asn.lookup("198.19.200.7".parse().unwrap()).unwrap().asn, Some(64501));
        assert_eq!(asn.lookup("198.18.0.9".parse().unwrap()), None);
        assert_eq!(asn.lookup("2001:db8::1".parse().unwrap()), None);
        std::fs::write(&path, b"not a database").unwrap();
        let e = AsnDb::open(&path).err().unwrap();
        assert!(e.contains("not a readable MaxMind DB"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

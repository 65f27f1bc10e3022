//! The client's address: the TCP peer, or what a trusted proxy (nginx) says the client was.
//!
//! Forwarded headers are believed only from the proxies in TRUSTED_PROXIES; anyone else could
//! send them to dodge per-address login limits.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return peer;
    }
    let real_ip = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    // The right-most entry is the one our proxy appended; the rest came from the client.
    let forwarded_for = || {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    };
    real_ip.or_else(forwarded_for).unwrap_or(peer)
}

/// Parses `10.0.0.0/8, 127.0.0.1` (addresses without a prefix are single hosts).
pub fn parse_trusted(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{entry:?} is not an address or a network"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted = parse_trusted("127.0.0.1, 10.0.0.0/8").unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let forwarded = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7")]);
        assert_eq!(
            client_ip(proxy, &forwarded, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &forwarded, &trusted), stranger);
        let real = headers(&[
            ("x-real-ip", "198.51.100.8"),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(
            client_ip(proxy, &real, &trusted),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert!(parse_trusted("nonsense").is_err());
        assert!(parse_trusted("").unwrap().is_empty());
    }
}

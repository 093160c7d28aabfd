//! Which host is which participant.

use std::net::{IpAddr, SocketAddr};

/// A host bound to its participant: the institution id it puts in field 32,
/// and the addresses it may connect from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBinding {
    pub institution_id: String,
    pub participant: String,
    pub addresses: Vec<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("host {0:?}: expected INSTITUTION_ID=PARTICIPANT@ADDRESS[;ADDRESS...]")]
    Shape(String),
    #[error("host {0:?}: the institution id must be 1 to 11 digits (field 32)")]
    Institution(String),
    #[error("host {0:?}: {1:?} is not an IP address")]
    Address(String, String),
}

impl HostBinding {
    /// Reads `60001=legacy-bank@127.0.0.1;10.0.0.7`.
    pub fn parse(text: &str) -> Result<HostBinding, HostError> {
        let shape = || HostError::Shape(text.to_string());
        let (institution, rest) = text.split_once('=').ok_or_else(shape)?;
        let (participant, addresses) = rest.split_once('@').ok_or_else(shape)?;
        if institution.is_empty()
            || institution.len() > 11
            || !institution.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(HostError::Institution(text.to_string()));
        }
        if participant.is_empty() {
            return Err(shape());
        }
        let addresses = addresses
            .split(';')
            .map(|a| {
                a.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| HostError::Address(text.to_string(), a.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HostBinding {
            institution_id: institution.to_string(),
            participant: participant.to_string(),
            addresses,
        })
    }
}

/// The hosts that may connect from `peer`: every binding that lists its
/// address (several institutions may share a front end).
/// The bindings of `participant`: who a host on TLS is, once its
/// certificate names the participant.
pub(crate) fn hosts_of(hosts: &[HostBinding], participant: &str) -> Option<Vec<HostBinding>> {
    let found: Vec<HostBinding> = hosts
        .iter()
        .filter(|h| h.participant == participant)
        .cloned()
        .collect();
    (!found.is_empty()).then_some(found)
}

pub(crate) fn host_at(hosts: &[HostBinding], peer: SocketAddr) -> Option<Vec<HostBinding>> {
    let found: Vec<HostBinding> = hosts
        .iter()
        .filter(|h| h.addresses.contains(&peer.ip()))
        .cloned()
        .collect();
    (!found.is_empty()).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_is_read_and_bad_ones_are_refused() {
        let h = HostBinding::parse("60001=legacy-bank@127.0.0.1;10.0.0.7").expect("parses");
        assert_eq!(h.institution_id, "60001");
        assert_eq!(h.participant, "legacy-bank");
        assert_eq!(h.addresses.len(), 2);
        for bad in [
            "legacy-bank@127.0.0.1",
            "60001=legacy-bank",
            "6000A=legacy-bank@127.0.0.1",
            "=legacy-bank@127.0.0.1",
            "60001=@127.0.0.1",
            "60001=legacy-bank@somewhere",
            "123456789012=legacy-bank@127.0.0.1",
        ] {
            assert!(HostBinding::parse(bad).is_err(), "{bad}");
        }
        let peer: SocketAddr = "10.0.0.7:4000".parse().expect("addr");
        assert!(host_at(std::slice::from_ref(&h), peer).is_some());
        let stranger: SocketAddr = "10.0.0.8:4000".parse().expect("addr");
        assert!(host_at(&[h], stranger).is_none());
    }
}

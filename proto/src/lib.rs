//! # harambee-proto
//!
//! The gRPC API of Harambee, version 1 (package `harambee.v1`), and the Rust
//! code generated from it.
//!
//! | service | who serves it | who calls it |
//! | --- | --- | --- |
//! | `ParticipantApi` | the switch | banks and wallets: lookup, quotes, transfers, notifications |
//! | `PayeeCallback` | each participant | the switch: get party, quote, transfer, notify |
//! | `Oracle` | an external oracle | the switch: who owns a party |
//! | `OperatorApi` | the switch, on its own port | the hub and settlement operators |
//!
//! The `.proto` files under `proto/harambee/v1/` are the reference: every
//! message and field is documented there. Amounts are decimal strings, ids
//! UUID strings, times `google.protobuf.Timestamp`; errors carry an
//! `ErrorInformation` with the FSPIOP code (see `common.proto`).

pub mod client;
pub mod convert;
pub mod fspiop;
pub mod validate;

/// Generated messages, clients (`*_client`) and servers (`*_server`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("harambee.v1");
}

/// The internal API between the nodes of a cluster (package
/// `harambee.cluster.v1`): not for participants or operators, and not in
/// [`FILE_DESCRIPTOR_SET`].
pub mod cluster {
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("harambee.cluster.v1");
    }

    /// The encoded `FileDescriptorSet` of the cluster API.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("harambee_cluster_descriptor");
}

/// The encoded `FileDescriptorSet` of the public Harambee API
/// (`harambee.v1`), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("harambee_descriptor");

#[cfg(test)]
mod tests {
    use super::FILE_DESCRIPTOR_SET;
    use prost::Message;
    use prost_types::FileDescriptorSet;
    use prost_types::field_descriptor_proto::Type;

    fn descriptors() -> FileDescriptorSet {
        FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
    }

    #[test]
    fn every_service_has_its_calls() {
        let set = descriptors();
        let expected: &[(&str, &[&str])] = &[
            (
                "ParticipantApi",
                &[
                    "LookupParty",
                    "RegisterParty",
                    "DeregisterParty",
                    "RequestQuote",
                    "GetQuote",
                    "PrepareTransfer",
                    "GetTransfer",
                    "Notifications",
                ],
            ),
            (
                "PayeeCallback",
                &["GetParty", "Quote", "Transfer", "Notify"],
            ),
            (
                "Oracle",
                &[
                    "LookupParticipant",
                    "CreateParticipantMapping",
                    "DeleteParticipantMapping",
                ],
            ),
            (
                "OperatorApi",
                &[
                    "CreateParticipant",
                    "SetParticipantActive",
                    "SetAccountActive",
                    "SetEndpoint",
                    "AddCurrency",
                    "AddParticipantCurrency",
                    "GetPositions",
                    "SetNetDebitCap",
                    "FundsIn",
                    "FundsOutReserve",
                    "FundsOutCommit",
                    "FundsOutAbort",
                    "CloseSettlementWindow",
                    "CreateSettlement",
                    "AdvanceSettlementParticipant",
                    "GetSettlementReport",
                    "GetLedgerDigest",
                ],
            ),
        ];
        for (service, methods) in expected {
            let found = set
                .file
                .iter()
                .flat_map(|f| f.service.iter())
                .find(|s| s.name() == *service)
                .unwrap_or_else(|| panic!("service {service} missing"));
            for m in *methods {
                assert!(
                    found.method.iter().any(|x| x.name() == *m),
                    "{service}.{m} missing"
                );
            }
        }
        let feed = set
            .file
            .iter()
            .flat_map(|f| f.service.iter())
            .flat_map(|s| s.method.iter())
            .find(|m| m.name() == "Notifications")
            .expect("Notifications");
        assert!(feed.server_streaming(), "Notifications is a server stream");
    }

    #[test]
    fn the_cluster_api_is_internal_and_out_of_reflection() {
        let public = descriptors();
        assert!(
            public
                .file
                .iter()
                .all(|f| matches!(f.package(), "harambee.v1" | "google.protobuf")),
            "reflection offers the public package only"
        );
        assert!(
            public
                .file
                .iter()
                .flat_map(|f| f.service.iter())
                .all(|s| s.name() != "Cluster")
        );
        let cluster = FileDescriptorSet::decode(super::cluster::FILE_DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let file = cluster
            .file
            .iter()
            .find(|f| f.package() == "harambee.cluster.v1")
            .expect("the cluster package");
        let service = file.service.first().expect("the Cluster service");
        assert_eq!(service.name(), "Cluster");
        assert!(service.method.iter().any(|m| m.name() == "Submit"));
    }

    #[test]
    fn no_field_is_a_float() {
        let set = descriptors();
        let mut fields = 0;
        for file in set.file.iter().filter(|f| f.package() == "harambee.v1") {
            for message in &file.message_type {
                for field in &message.field {
                    fields += 1;
                    assert!(
                        !matches!(field.r#type(), Type::Float | Type::Double),
                        "{}.{} is a float: money and quantities must be decimal strings or integers",
                        message.name(),
                        field.name()
                    );
                }
            }
        }
        assert!(
            fields > 100,
            "the descriptor set holds the whole API ({fields} fields)"
        );
    }
}

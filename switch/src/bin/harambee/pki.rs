//! `harambee pki`: a development PKI in one directory (the scheme CA and
//! the certificates of the switch, participants and operators), and the
//! operators file of the operators it issued to.

use std::path::PathBuf;

use harambee_switch::config::{OperatorConfig, OperatorsFile};
use harambee_tls::dev::{DevPki, Holder, Issued};

/// The roles of an operator named without any.
const DEFAULT_ROLES: &[&str] = &["hub-operator", "settlement-operator", "auditor"];

#[derive(clap::Args)]
pub(crate) struct PkiArgs {
    /// Where the PKI lives; an existing CA there is kept and issues.
    #[arg(long, default_value = "pki")]
    dir: PathBuf,
    /// A participant to issue a certificate to (repeat for more).
    #[arg(long = "participant", value_name = "FSP_ID")]
    participants: Vec<String>,
    /// An operator to issue a certificate to: NAME, or NAME=ROLE[,ROLE]
    /// (hub-operator, settlement-operator, auditor; all three without).
    /// Listed, with the certificate's digest, in DIR/operators.toml.
    #[arg(long = "operator", value_name = "NAME[=ROLES]")]
    operators: Vec<String>,
    /// Another name or address the switch is reached at (its certificate
    /// holds localhost and 127.0.0.1 already).
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// Days the certificates made now are valid.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Issue the named certificates again, though they exist (rotation:
    /// register the new one, then remove the old one).
    #[arg(long)]
    renew: bool,
}

/// Makes what is missing (or renewed) and prints what the directory holds.
pub(crate) fn pki(args: PkiArgs) -> anyhow::Result<()> {
    let operators = args
        .operators
        .iter()
        .map(|o| match o.split_once('=') {
            Some((name, roles)) => (
                name.to_string(),
                roles.split(',').map(|r| r.trim().to_string()).collect(),
            ),
            None => (
                o.clone(),
                DEFAULT_ROLES.iter().map(|r| r.to_string()).collect(),
            ),
        })
        .collect::<Vec<(String, Vec<String>)>>();
    let dev = DevPki::open_or_create(&args.dir, args.days)?;
    let mut issued: Vec<Issued> =
        vec![dev.issue(Holder::Switch, "switch", &args.hosts, args.renew)?];
    for p in &args.participants {
        issued.push(dev.issue(Holder::Participant, p, &[], args.renew)?);
    }
    let mut file = OperatorsFile::default();
    for (name, roles) in &operators {
        let cert = dev.issue(Holder::Operator, name, &[], args.renew)?;
        file.operators.push(OperatorConfig {
            name: name.clone(),
            roles: roles.clone(),
            token_sha256: String::new(),
            certificate_sha256: cert.sha256_hex(),
        });
        issued.push(cert);
    }
    let operators_file = args.dir.join("operators.toml");
    if !file.operators.is_empty() {
        // The switch reads it back: checked the same way before it is written.
        file.entries()?;
        let text = format!(
            "# Operators of a development PKI, written by `harambee pki`: each\n# identified by its client certificate (operators/NAME.pem).\n{}",
            toml::to_string(&file)?
        );
        std::fs::write(&operators_file, text)?;
    }

    println!(
        "{} {}",
        if dev.ca_made { "made" } else { "kept" },
        dev.ca_file().display()
    );
    println!(
        "{:<12} {:<20} {:<5} sha256 of the certificate",
        "holder", "name", ""
    );
    for i in &issued {
        println!(
            "{:<12} {:<20} {:<5} {}",
            i.holder.as_str(),
            i.name,
            if i.made { "made" } else { "kept" },
            i.sha256_hex()
        );
    }
    let switch = &issued[0];
    println!();
    println!("The switch's configuration:");
    println!("  [tls]");
    println!("  cert_file = {:?}", switch.cert_file.display().to_string());
    println!("  key_file = {:?}", switch.key_file.display().to_string());
    println!("  ca_file = {:?}", dev.ca_file().display().to_string());
    println!("  participant_api = true");
    println!("  fspiop_api = true");
    println!("  operator_api = true");
    println!("  admin_api = true");
    if !file.operators.is_empty() {
        println!("  [api]");
        println!(
            "  operators_file = {:?}",
            operators_file.display().to_string()
        );
    }
    if !args.participants.is_empty() {
        println!();
        println!(
            "Register each participant's certificate: harambee participant add-certificate FSP_ID {}",
            args.dir.join("participants").join("FSP_ID.pem").display()
        );
    }
    Ok(())
}

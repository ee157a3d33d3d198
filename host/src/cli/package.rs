//! Author and admin commands on packages and keys: `keys generate`, `pack`,
//! `sign`, `verify`. They read and write files only; nothing here talks to a
//! host.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use magflock_registry::{Package, PublicKey, SigningKeyPair, TrustStore};
use miette::{Context, IntoDiagnostic, Result, miette};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate an ed25519 publisher key pair: NAME.key (secret, mode 0600)
    /// and NAME.pub (share this one with host and registry admins).
    Generate {
        /// Path prefix of the two files.
        #[arg(long, short, default_value = "publisher")]
        out: PathBuf,
        /// A label stored in the public key file.
        #[arg(long)]
        label: Option<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the key id of a public or secret key file.
    Id { file: PathBuf },
}

#[derive(Args, Debug)]
pub struct PackArgs {
    /// The extension manifest.
    #[arg(long, default_value = "extension.toml")]
    pub manifest: PathBuf,
    /// The built component (`.wasm`, built for wasm32-wasip2).
    #[arg(long)]
    pub component: PathBuf,
    /// Output file (default: NAME-VERSION.mfpkg).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The package to sign, in place unless --out is given.
    pub package: PathBuf,
    /// The publisher's secret key file.
    #[arg(long)]
    pub key: PathBuf,
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    pub package: PathBuf,
    /// Trusted public key files (one or more).
    #[arg(long = "trusted", required = true)]
    pub trusted: Vec<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).into_diagnostic().wrap_err_with(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).into_diagnostic().wrap_err_with(|| format!("cannot write {}", path.display()))
}

pub fn read_secret_key(path: &Path) -> Result<SigningKeyPair> {
    let text = String::from_utf8(read(path)?).into_diagnostic()?;
    text.trim().parse().map_err(|e| miette!("{}: not a MagFlock secret key: {e}", path.display()))
}

pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    let text = String::from_utf8(read(path)?).into_diagnostic()?;
    text.trim().parse().map_err(|e| miette!("{}: not a MagFlock public key: {e}", path.display()))
}

/// Generates a key pair at `prefix`.key / `prefix`.pub.
pub fn generate_keys(prefix: &Path, label: Option<&str>, force: bool) -> Result<SigningKeyPair> {
    let secret_path = prefix.with_extension("key");
    let public_path = prefix.with_extension("pub");
    if !force && (secret_path.exists() || public_path.exists()) {
        return Err(miette!(
            "{} or {} already exists; pass --force to overwrite",
            secret_path.display(),
            public_path.display()
        ));
    }
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).into_diagnostic()?;
    }
    if force {
        let _ = std::fs::remove_file(&secret_path);
        let _ = std::fs::remove_file(&public_path);
    }
    let pair = SigningKeyPair::generate().map_err(|e| miette!("generating a key: {e}"))?;
    pair.write_secret_file(&secret_path).map_err(|e| miette!("{}: {e}", secret_path.display()))?;
    let mut public = pair.public_key().clone();
    if let Some(l) = label {
        public = public.with_label(l).map_err(|e| miette!("label: {e}"))?;
    }
    write(&public_path, format!("{public}\n").as_bytes())?;
    Ok(pair)
}

pub fn keys(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Generate { out, label, force } => {
            let pair = generate_keys(&out, label.as_deref(), force)?;
            println!("key id {}", pair.key_id());
            println!("secret key: {}", out.with_extension("key").display());
            println!("public key: {}", out.with_extension("pub").display());
            Ok(())
        }
        KeysCommand::Id { file } => {
            let text = String::from_utf8(read(&file)?).into_diagnostic()?;
            let id = match text.trim().parse::<PublicKey>() {
                Ok(p) => p.key_id(),
                Err(_) => read_secret_key(&file)?.key_id(),
            };
            println!("{id}");
            Ok(())
        }
    }
}

/// Packs a manifest and a component into package bytes.
pub fn pack_files(manifest: &Path, component: &Path) -> Result<Package> {
    let m = read(manifest)?;
    let c = read(component)?;
    Package::new(m, c).map_err(|e| miette!("cannot pack {}: {e}", manifest.display()))
}

pub fn pack(args: PackArgs) -> Result<()> {
    let pkg = pack_files(&args.manifest, &args.component)?;
    let m = pkg.manifest();
    let out =
        args.out.unwrap_or_else(|| PathBuf::from(format!("{}-{}.mfpkg", m.name().as_str(), m.version())));
    write(&out, &pkg.to_bytes())?;
    println!(
        "packed {}@{} → {} ({} bytes, unsigned)",
        m.name().as_str(),
        m.version(),
        out.display(),
        pkg.to_bytes().len()
    );
    Ok(())
}

pub fn sign(args: SignArgs) -> Result<()> {
    let key = read_secret_key(&args.key)?;
    let mut pkg = Package::from_bytes(&read(&args.package)?)
        .map_err(|e| miette!("{}: not a valid package: {e}", args.package.display()))?;
    magflock_registry::sign_package(&mut pkg, &key);
    let out = args.out.unwrap_or(args.package);
    write(&out, &pkg.to_bytes())?;
    println!(
        "signed {}@{} with key {} → {}",
        pkg.manifest().name().as_str(),
        pkg.manifest().version(),
        key.key_id(),
        out.display()
    );
    Ok(())
}

pub fn verify(args: VerifyArgs) -> Result<()> {
    let mut trust = TrustStore::new();
    for f in &args.trusted {
        trust.insert(read_public_key(f)?);
    }
    let pkg = Package::from_bytes(&read(&args.package)?)
        .map_err(|e| miette!("{}: not a valid package [{}]: {e}", args.package.display(), e.code()))?;
    match magflock_registry::verify_package(&pkg, &trust) {
        Ok(_) => {
            println!(
                "ok: {}@{} is signed by a trusted key",
                pkg.manifest().name().as_str(),
                pkg.manifest().version()
            );
            Ok(())
        }
        Err(e) => Err(miette!("{}: signature refused [{}]: {e}", args.package.display(), e.code())),
    }
}

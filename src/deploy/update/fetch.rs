//! Reading releases from where they are published: a web address or a
//! local folder (an offline shop copies the release files there). Both give
//! the manifest and its signature as small byte strings, and stream the
//! artefact into a staging file while counting and hashing it, so a file
//! longer than the manifest says is cut off at once, and a short, damaged or
//! half-written one is deleted without ever being run.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ring::digest;

use super::UpdateError;
use super::manifest::{Artefact, MAX_MANIFEST_SIZE};

/// Where releases are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A web address, without its trailing slash.
    Web(String),
    /// A local folder.
    Folder(PathBuf),
}

impl Source {
    /// Reads `[update] source`.
    pub fn parse(text: &str) -> Result<Self, UpdateError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UpdateError::NoSource);
        }
        if text.starts_with("https://") || text.starts_with("http://") {
            return Ok(Self::Web(text.trim_end_matches('/').to_owned()));
        }
        Ok(Self::Folder(PathBuf::from(text)))
    }

    /// Where `file` (a name beside the manifest, or a full address) is.
    pub(super) fn locate(&self, file: &str) -> String {
        match self {
            _ if file.contains("://") => file.to_owned(),
            Self::Web(base) => format!("{base}/{file}"),
            Self::Folder(dir) => dir.join(file).display().to_string(),
        }
    }

    /// A small file (the manifest or its signature); `Ok(None)` if there is
    /// no such file.
    pub async fn read_small(
        &self,
        client: &reqwest::Client,
        file: &str,
    ) -> Result<Option<Vec<u8>>, UpdateError> {
        let place = self.locate(file);
        let unreachable = |why: String| UpdateError::unreachable(&place, why);
        let too_big = || {
            unreachable(format!(
                "it is over {MAX_MANIFEST_SIZE} bytes, so it is not a release manifest"
            ))
        };
        if !place.contains("://") {
            let file = match std::fs::File::open(&place) {
                Ok(file) => file,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(err) => return Err(unreachable(err.to_string())),
            };
            let mut bytes = Vec::new();
            file.take(MAX_MANIFEST_SIZE + 1)
                .read_to_end(&mut bytes)
                .map_err(|err| unreachable(err.to_string()))?;
            return match bytes.len() as u64 > MAX_MANIFEST_SIZE {
                true => Err(too_big()),
                false => Ok(Some(bytes)),
            };
        }
        let mut response = get(client, &place).await.map_err(unreachable)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| unreachable(error_chain(&err)))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_MANIFEST_SIZE {
                return Err(too_big());
            }
        }
        Ok(Some(bytes))
    }

    /// Downloads `artefact` to `staging`, checking its size and SHA-256; on
    /// any failure `staging` is removed.
    pub async fn download(
        &self,
        client: &reqwest::Client,
        artefact: &Artefact,
        staging: &Path,
    ) -> Result<(), UpdateError> {
        let place = self.locate(&artefact.file);
        let result = self.copy(client, &place, artefact, staging).await;
        if result.is_err() {
            // Best effort: the staging file is ours and never run.
            let _ = std::fs::remove_file(staging);
        }
        result
    }

    async fn copy(
        &self,
        client: &reqwest::Client,
        place: &str,
        artefact: &Artefact,
        staging: &Path,
    ) -> Result<(), UpdateError> {
        let mut sink = Sink::create(staging, place, artefact)?;
        if !place.contains("://") {
            let mut file =
                std::fs::File::open(place).map_err(|err| UpdateError::unreachable(place, err))?;
            let mut buffer = vec![0; 64 * 1024];
            loop {
                match file.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => sink.take(&buffer[..n])?,
                    Err(err) => return Err(sink.interrupted(err.to_string())),
                }
            }
            return sink.finish();
        }
        let mut response = get(client, place)
            .await
            .map_err(|why| UpdateError::unreachable(place, why))?;
        if !response.status().is_success() {
            let why = format!("the server answered {}", response.status());
            return Err(UpdateError::unreachable(place, why));
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => sink.take(&chunk)?,
                Ok(None) => break,
                Err(err) => return Err(sink.interrupted(error_chain(&err))),
            }
        }
        sink.finish()
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, String> {
    client
        .get(url)
        .send()
        .await
        .map_err(|err| error_chain(&err))
}

/// An error with its causes, which is where reqwest says what happened.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// The staging file being written, with its running count and hash.
struct Sink<'a> {
    file: std::fs::File,
    path: &'a Path,
    place: &'a str,
    artefact: &'a Artefact,
    written: u64,
    hash: digest::Context,
}

impl<'a> Sink<'a> {
    fn create(path: &'a Path, place: &'a str, artefact: &'a Artefact) -> Result<Self, UpdateError> {
        let file = std::fs::File::create(path).map_err(staging_error(path, artefact.size))?;
        Ok(Self {
            file,
            path,
            place,
            artefact,
            written: 0,
            hash: digest::Context::new(&digest::SHA256),
        })
    }

    fn take(&mut self, chunk: &[u8]) -> Result<(), UpdateError> {
        self.written += chunk.len() as u64;
        if self.written > self.artefact.size {
            return Err(UpdateError::TooBig {
                place: self.place.to_owned(),
                size: self.artefact.size,
            });
        }
        self.hash.update(chunk);
        self.file
            .write_all(chunk)
            .map_err(staging_error(self.path, self.artefact.size))
    }

    fn interrupted(&self, why: String) -> UpdateError {
        UpdateError::Interrupted {
            place: self.place.to_owned(),
            got: self.written,
            size: self.artefact.size,
            why,
        }
    }

    fn finish(mut self) -> Result<(), UpdateError> {
        if self.written < self.artefact.size {
            return Err(self.interrupted("the file ended early".to_owned()));
        }
        self.file
            .flush()
            .and_then(|()| self.file.sync_all())
            .map_err(staging_error(self.path, self.artefact.size))?;
        let got = hex(self.hash.clone().finish().as_ref());
        if !got.eq_ignore_ascii_case(&self.artefact.sha256) {
            return Err(UpdateError::Checksum {
                place: self.place.to_owned(),
                expected: self.artefact.sha256.to_ascii_lowercase(),
                got,
            });
        }
        Ok(())
    }
}

/// What a failure to create or write the staging file at `path` means:
/// a full disk (the artefact needs `needed` bytes), or the system's error
/// (a folder the user may not write to).
fn staging_error(path: &Path, needed: u64) -> impl Fn(io::Error) -> UpdateError + '_ {
    move |source| match source.kind() {
        io::ErrorKind::StorageFull => UpdateError::DiskFull {
            folder: path.parent().unwrap_or(path).to_path_buf(),
            needed,
        },
        _ => UpdateError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_a_web_address_or_a_folder() {
        assert!(matches!(Source::parse(" "), Err(UpdateError::NoSource)));
        let web = Source::parse("https://example.com/kw/").unwrap();
        assert_eq!(web, Source::Web("https://example.com/kw".to_owned()));
        assert_eq!(
            web.locate("stable.toml"),
            "https://example.com/kw/stable.toml"
        );
        assert_eq!(
            web.locate("https://cdn.example.com/kw-0.2"),
            "https://cdn.example.com/kw-0.2"
        );
        let folder = Source::parse("/srv/releases").unwrap();
        assert_eq!(folder.locate("stable.toml"), "/srv/releases/stable.toml");
    }

    #[test]
    fn the_hash_is_lowercase_hex() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}

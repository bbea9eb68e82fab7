//! Audit records serialised where they are made: the publish and subscribe paths encode each record into
//! one buffer as they decide, so no owned copy of what a record is about is made, queued to the writer and
//! freed on another thread. The writer joins the buffers of a group commit into the entry's JSON
//! ([`super::ChainHead::seal_encoded`]), which is byte for byte what serialising the [`super::AuditEntry`]
//! gives, so what is stored and hashed is the same as before.

use super::AuditRecord;

/// The JSON of some audit records, comma-separated: a run of the `records` array of an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedRecords {
    json: Vec<u8>,
    count: usize,
}

/// About what a record's JSON takes, so that a publish's records are not copied as they grow.
const RECORD_BYTES: usize = 384;

impl EncodedRecords {
    /// Room for about `records` records.
    pub fn with_capacity(records: usize) -> EncodedRecords {
        EncodedRecords { json: Vec::with_capacity(records * RECORD_BYTES), count: 0 }
    }

    /// Adds `record` after those already here.
    pub fn push(&mut self, record: &AuditRecord<'_>) {
        let start = self.json.len();
        if self.count > 0 {
            self.json.push(b',');
        }
        // Writing to memory cannot fail (no map has non-string keys); were it to, the record is left out
        // whole rather than half written, and nothing here panics.
        match serde_json::to_writer(&mut self.json, record) {
            Ok(()) => self.count += 1,
            Err(error) => {
                tracing::error!(%error, "audit record not encoded");
                self.json.truncate(start);
            }
        }
    }

    /// Adds every record of `other` after those here.
    pub fn append(&mut self, other: &EncodedRecords) {
        if other.count == 0 {
            return;
        }
        if self.count > 0 {
            self.json.push(b',');
        }
        self.json.extend_from_slice(&other.json);
        self.count += other.count;
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.json.clear();
        self.count = 0;
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many bytes of JSON the records take.
    pub fn json_len(&self) -> usize {
        self.json.len()
    }
}

impl From<&[AuditRecord<'_>]> for EncodedRecords {
    fn from(records: &[AuditRecord<'_>]) -> EncodedRecords {
        let mut encoded = EncodedRecords::with_capacity(records.len());
        for record in records {
            encoded.push(record);
        }
        encoded
    }
}

impl From<Vec<AuditRecord<'_>>> for EncodedRecords {
    fn from(records: Vec<AuditRecord<'_>>) -> EncodedRecords {
        EncodedRecords::from(&records[..])
    }
}

impl From<AuditRecord<'_>> for EncodedRecords {
    fn from(record: AuditRecord<'_>) -> EncodedRecords {
        EncodedRecords::from(std::slice::from_ref(&record))
    }
}

/// Writes the records of `parts`, in order, comma-separated.
pub(super) fn join(json: &mut Vec<u8>, parts: &[EncodedRecords]) {
    let mut first = true;
    for part in parts.iter().filter(|part| !part.is_empty()) {
        if !first {
            json.push(b',');
        }
        json.extend_from_slice(&part.json);
        first = false;
    }
}

/// Writes `value` as a JSON string, as serde_json does.
pub(super) fn push_str(json: &mut Vec<u8>, value: &str) {
    // Writing a string to memory cannot fail.
    let _ = serde_json::to_writer(&mut *json, value);
}

#[cfg(test)]
mod tests;

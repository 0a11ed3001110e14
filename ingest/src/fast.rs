//! The fast decoder: reads `ExportMetricsServiceRequest` bytes in place and drives a
//! [`MetricsVisitor`] with slices borrowed from the request. Nothing is allocated per point;
//! the few scratch vectors are reused across the request. A point's attributes are not
//! decoded here: the visitor gets their encoded messages and a hash of their bytes, and
//! decodes them only for a series it has not seen under those bytes (interning by hash
//! before any decoding or allocation).
//!
//! Messages whose header fields follow their children on the wire (a `Sum`'s temporality
//! comes after its points; a `Metric`'s name may come after its data) are scanned twice: the
//! first pass skips length-delimited children in O(1). Field semantics follow protobuf:
//! unknown fields are skipped (groups too, to their end tag, as prost skips them), the last
//! value of a singular field wins, repeated scalars are accepted packed or unpacked.

use crate::attrs::{Attr, AttrValue, Nested};
use crate::visitor::{
    ExponentialHistogramPoint, HistogramPoint, MetricMeta, MetricsVisitor, NumberPoint, PointAttrs, PointTimes, Shape,
    SummaryPoint, Temporality,
};
use crate::wire::{Reader, WireError, expect, repeated_fixed64, repeated_varint, wire_type::*, zigzag32};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Vectors reused across the points of one request.
#[derive(Debug, Default)]
struct Scratch<'a> {
    resource_attrs: Vec<Attr<'a>>,
    point_attrs: EncodedAttrs<'a>,
    words: Vec<u64>,
    bounds: Vec<f64>,
    negative: Vec<u64>,
    quantiles: Vec<(f64, f64)>,
}

/// Iterates the fields of a message, calling `on_field(reader, field, wire type)` for each;
/// `on_field` returns `Ok(false)` for fields it does not read, which are then skipped.
#[inline]
fn fields<'a>(
    buf: &'a [u8],
    mut on_field: impl FnMut(&mut Reader<'a>, u32, u8) -> Result<bool, WireError>,
) -> Result<(), WireError> {
    let mut reader = Reader::new(buf);
    while !reader.is_empty() {
        let (field, wire) = reader.key()?;
        if !on_field(&mut reader, field, wire)? {
            reader.skip(field, wire)?;
        }
    }
    Ok(())
}

/// Reads a length-delimited field after checking its wire type.
#[inline]
fn len_field<'a>(reader: &mut Reader<'a>, field: u32, wire: u8) -> Result<&'a [u8], WireError> {
    expect(field, wire, LEN)?;
    reader.bytes()
}

#[inline]
fn fixed64_field(reader: &mut Reader<'_>, field: u32, wire: u8) -> Result<u64, WireError> {
    expect(field, wire, FIXED64)?;
    reader.fixed64()
}

#[inline]
fn varint_field(reader: &mut Reader<'_>, field: u32, wire: u8) -> Result<u64, WireError> {
    expect(field, wire, VARINT)?;
    reader.varint()
}

/// Decodes a request, driving `visitor`.
pub fn decode<'a>(buf: &'a [u8], visitor: &mut impl MetricsVisitor<'a>) -> Result<(), WireError> {
    let mut scratch = Scratch::default();
    fields(buf, |reader, field, wire| {
        if field != 1 {
            return Ok(false);
        }
        resource_metrics(len_field(reader, field, wire)?, visitor, &mut scratch)?;
        Ok(true)
    })
}

fn resource_metrics<'a>(
    buf: &'a [u8],
    visitor: &mut impl MetricsVisitor<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let mut resource = None;
    fields(buf, |reader, field, wire| {
        if field != 1 {
            return Ok(false);
        }
        resource = Some(len_field(reader, field, wire)?);
        Ok(true)
    })?;
    scratch.resource_attrs.clear();
    if let Some(resource) = resource {
        fields(resource, |reader, field, wire| {
            if field != 1 {
                return Ok(false);
            }
            scratch.resource_attrs.push(key_value(len_field(reader, field, wire)?)?);
            Ok(true)
        })?;
    }
    visitor.resource(&scratch.resource_attrs);
    fields(buf, |reader, field, wire| {
        if field != 2 {
            return Ok(false);
        }
        scope_metrics(len_field(reader, field, wire)?, visitor, scratch)?;
        Ok(true)
    })
}

fn scope_metrics<'a>(
    buf: &'a [u8],
    visitor: &mut impl MetricsVisitor<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let (mut name, mut version) = ("", "");
    fields(buf, |reader, field, wire| {
        if field != 1 {
            return Ok(false);
        }
        (name, version) = ("", "");
        fields(len_field(reader, field, wire)?, |scope, field, wire| match field {
            1 => {
                expect(field, wire, LEN)?;
                name = scope.str()?;
                Ok(true)
            }
            2 => {
                expect(field, wire, LEN)?;
                version = scope.str()?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(true)
    })?;
    visitor.scope(name, version);
    fields(buf, |reader, field, wire| {
        if field != 2 {
            return Ok(false);
        }
        metric(len_field(reader, field, wire)?, visitor, scratch)?;
        Ok(true)
    })
}

/// Which data field a metric carries, with its bytes.
enum DataField<'a> {
    Gauge(&'a [u8]),
    Sum(&'a [u8]),
    Histogram(&'a [u8]),
    Exponential(&'a [u8]),
    Summary(&'a [u8]),
}

fn metric<'a>(
    buf: &'a [u8],
    visitor: &mut impl MetricsVisitor<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let (mut name, mut unit, mut data) = ("", "", None);
    fields(buf, |reader, field, wire| {
        match field {
            1 => {
                name = {
                    expect(field, wire, LEN)?;
                    reader.str()?
                }
            }
            3 => {
                unit = {
                    expect(field, wire, LEN)?;
                    reader.str()?
                }
            }
            5 => data = Some(DataField::Gauge(len_field(reader, field, wire)?)),
            7 => data = Some(DataField::Sum(len_field(reader, field, wire)?)),
            9 => data = Some(DataField::Histogram(len_field(reader, field, wire)?)),
            10 => data = Some(DataField::Exponential(len_field(reader, field, wire)?)),
            11 => data = Some(DataField::Summary(len_field(reader, field, wire)?)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let Some(data) = data else { return Ok(()) };
    let (points, shape) = match data {
        DataField::Gauge(buf) => (buf, Shape::Gauge),
        DataField::Summary(buf) => (buf, Shape::Summary),
        DataField::Sum(buf) => {
            let (temporality, monotonic) = aggregation_header(buf, true)?;
            (buf, Shape::Sum { monotonic, temporality })
        }
        DataField::Histogram(buf) => (buf, Shape::Histogram(aggregation_header(buf, false)?.0)),
        DataField::Exponential(buf) => (buf, Shape::ExponentialHistogram(aggregation_header(buf, false)?.0)),
    };
    visitor.metric(&MetricMeta { name, unit, shape });
    fields(points, |reader, field, wire| {
        if field != 1 {
            return Ok(false);
        }
        let point = len_field(reader, field, wire)?;
        match shape {
            Shape::Gauge | Shape::Sum { .. } => number_point(point, visitor, scratch),
            Shape::Histogram(_) => histogram_point(point, visitor, scratch),
            Shape::ExponentialHistogram(_) => exponential_point(point, visitor, scratch),
            Shape::Summary => summary_point(point, visitor, scratch),
        }?;
        Ok(true)
    })
}

/// Temporality (field 2) of a Sum or histogram, and a Sum's monotonicity (field 3, which
/// `sum` says the message has: a histogram's field 3 is an unknown field, skipped).
fn aggregation_header(buf: &[u8], sum: bool) -> Result<(Temporality, bool), WireError> {
    let (mut temporality, mut monotonic) = (0i32, false);
    fields(buf, |reader, field, wire| {
        match field {
            2 => temporality = varint_field(reader, field, wire)? as i32,
            3 if sum => monotonic = varint_field(reader, field, wire)? != 0,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok((Temporality::from_otlp(temporality), monotonic))
}

fn key_value(buf: &[u8]) -> Result<Attr<'_>, WireError> {
    let mut attr = Attr { key: "", value: AttrValue::Empty };
    fields(buf, |reader, field, wire| {
        match field {
            1 => {
                attr.key = {
                    expect(field, wire, LEN)?;
                    reader.str()?
                }
            }
            2 => attr.value = any_value(len_field(reader, field, wire)?)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(attr)
}

fn any_value(buf: &[u8]) -> Result<AttrValue<'_>, WireError> {
    let mut value = AttrValue::Empty;
    fields(buf, |reader, field, wire| {
        value = match field {
            1 => {
                expect(field, wire, LEN)?;
                AttrValue::Str(reader.str()?)
            }
            2 => AttrValue::Bool(varint_field(reader, field, wire)? != 0),
            3 => AttrValue::Int(varint_field(reader, field, wire)? as i64),
            4 => AttrValue::Double(f64::from_bits(fixed64_field(reader, field, wire)?)),
            5 | 6 => {
                len_field(reader, field, wire)?;
                AttrValue::Nested(Nested::Wire(buf))
            }
            7 => AttrValue::Bytes(len_field(reader, field, wire)?),
            8 => AttrValue::StrIndex(varint_field(reader, field, wire)? as i32),
            _ => return Ok(false),
        };
        Ok(true)
    })?;
    Ok(value)
}

/// A point's attribute fields, kept encoded, and where they lie in the point's bytes.
#[derive(Debug, Default)]
struct EncodedAttrs<'a> {
    /// Each `KeyValue` message.
    messages: Vec<&'a [u8]>,
    /// Offsets in the point of the first attribute field's key and of the last one's end.
    span: (usize, usize),
    /// Whether the attribute fields follow one another with nothing between them.
    contiguous: bool,
}

impl<'a> EncodedAttrs<'a> {
    fn clear(&mut self) {
        self.messages.clear();
        self.span = (0, 0);
        self.contiguous = true;
    }

    /// Records the field spanning `start..end` of the point, holding `message`.
    fn push(&mut self, message: &'a [u8], start: usize, end: usize) {
        if self.messages.is_empty() {
            self.span = (start, end);
        } else if start == self.span.1 {
            self.span.1 = end;
        } else {
            self.contiguous = false;
        }
        self.messages.push(message);
    }

    /// The attributes for a visitor, with the hash of their bytes: one pass over the fields'
    /// span when they are contiguous (as every encoder writes them), else message by message.
    fn view<'s>(&'s self, point: &'a [u8]) -> PointAttrs<'a, 's> {
        let wire_hash = if self.contiguous {
            xxh3_64_with_seed(&point[self.span.0..self.span.1], ENCODED_SEED)
        } else {
            self.messages.iter().fold(!ENCODED_SEED, |hash, message| xxh3_64_with_seed(message, hash))
        };
        PointAttrs::Encoded { messages: &self.messages, wire_hash }
    }
}

/// Seed of the hash of encoded attributes.
const ENCODED_SEED: u64 = 0x6A09_E667_F3BC_C908;

/// Reads the attribute (`attributes_field`, kept encoded), start (2), time (3) and flags
/// fields common to every point; hands every other field to `other`.
fn point_fields<'a>(
    buf: &'a [u8],
    attributes_field: u32,
    flags_field: u32,
    attrs: &mut EncodedAttrs<'a>,
    times: &mut PointTimes,
    mut other: impl FnMut(&mut Reader<'a>, u32, u8) -> Result<bool, WireError>,
) -> Result<(), WireError> {
    attrs.clear();
    *times = PointTimes::default();
    let mut reader = Reader::new(buf);
    while !reader.is_empty() {
        let start = buf.len() - reader.remaining();
        let (field, wire) = reader.key()?;
        let read = match field {
            f if f == attributes_field => {
                let message = len_field(&mut reader, field, wire)?;
                attrs.push(message, start, buf.len() - reader.remaining());
                true
            }
            2 => {
                times.start = fixed64_field(&mut reader, field, wire)?;
                true
            }
            3 => {
                times.time = fixed64_field(&mut reader, field, wire)?;
                true
            }
            f if f == flags_field => {
                times.flags = varint_field(&mut reader, field, wire)? as u32;
                true
            }
            _ => other(&mut reader, field, wire)?,
        };
        if !read {
            reader.skip(field, wire)?;
        }
    }
    Ok(())
}

/// Decodes one encoded `KeyValue` attribute (the builder does, for a series it does not know
/// under these bytes yet).
pub fn decode_attribute(message: &[u8]) -> Result<Attr<'_>, WireError> {
    key_value(message)
}

fn number_point<'a>(
    buf: &'a [u8],
    visitor: &mut impl MetricsVisitor<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let mut point = NumberPoint::default();
    point_fields(buf, 7, 8, &mut scratch.point_attrs, &mut point.times, |reader, field, wire| {
        match field {
            4 => point.value = Some(f64::from_bits(fixed64_field(reader, field, wire)?)),
            6 => point.value = Some(fixed64_field(reader, field, wire)? as i64 as f64),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    visitor.number_point(scratch.point_attrs.view(buf), &point)
}

fn histogram_point<'a>(
    buf: &'a [u8],
    visitor: &mut impl MetricsVisitor<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let (mut count, mut sum, mut min, mut max) = (0, None, None, None);
    let mut times = PointTimes::default();
    scratch.words.clear();
    let mut bound_bits = std::mem::take(&mut scratch.negative);
    bound_bits.clear();
    point_fields(buf, 9, 10, &mut scratch.point_attrs, &mut times, |reader, field, wire| {
        match field {
            4 => count = fixed64_field(reader, field, wire)?,
            5 => sum = Some(f64::from_bits(fixed64_field(reader, field, wire)?)),
            6 => repeated_fixed64(reader, field, wire, &mut scratch.words)?,
            7 => repeated_fixed64(reader, field, wire, &mut bound_bits)?,
            11 => min = Some(f64::from_bits(fixed64_field(reader, field, wire)?)),
            12 => max = Some(f64::from_bits(fixed64_field(reader, field, wire)?)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    scratch.bounds.clear();
    scratch.bounds.extend(bound_bits.iter().map(|b| f64::from_bits(*b)));
    scratch.negative = bound_bits;
    let point = HistogramPoint { times, count, sum, min, max, bounds: &scratch.bounds, counts: &scratch.words };
    visitor.histogram_point(scratch.point_attrs.view(buf), &point)
}

/// Offset (field 1, sint32) and counts (field 2) of exponential histogram buckets.
fn buckets(buf: &[u8], counts: &mut Vec<u64>) -> Result<i32, WireError> {
    let mut offset = 0;
    counts.clear();
    fields(buf, |reader, field, wire| {
        match field {
            1 => offset = zigzag32(varint_field(reader, field, wire)?),
            2 => repeated_varint(reader, field, wire, counts)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(offset)
}

fn exponential_point<'a>(
    buf: &'a [u8],
    visitor: &mut impl MetricsVisitor<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let (mut count, mut sum, mut min, mut max) = (0, None, None, None);
    let (mut scale, mut zero_count, mut zero_threshold) = (0, 0, 0.0);
    let (mut positive_offset, mut negative_offset) = (0, 0);
    let mut times = PointTimes::default();
    scratch.words.clear();
    scratch.negative.clear();
    point_fields(buf, 1, 10, &mut scratch.point_attrs, &mut times, |reader, field, wire| {
        match field {
            4 => count = fixed64_field(reader, field, wire)?,
            5 => sum = Some(f64::from_bits(fixed64_field(reader, field, wire)?)),
            6 => scale = zigzag32(varint_field(reader, field, wire)?),
            7 => zero_count = fixed64_field(reader, field, wire)?,
            8 => positive_offset = buckets(len_field(reader, field, wire)?, &mut scratch.words)?,
            9 => negative_offset = buckets(len_field(reader, field, wire)?, &mut scratch.negative)?,
            12 => min = Some(f64::from_bits(fixed64_field(reader, field, wire)?)),
            13 => max = Some(f64::from_bits(fixed64_field(reader, field, wire)?)),
            14 => zero_threshold = f64::from_bits(fixed64_field(reader, field, wire)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let point = ExponentialHistogramPoint {
        times,
        count,
        sum,
        min,
        max,
        scale,
        zero_count,
        zero_threshold,
        positive_offset,
        positive: &scratch.words,
        negative_offset,
        negative: &scratch.negative,
    };
    visitor.exponential_histogram_point(scratch.point_attrs.view(buf), &point)
}

fn summary_point<'a>(
    buf: &'a [u8],
    visitor: &mut impl MetricsVisitor<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let (mut count, mut sum) = (0, 0.0);
    let mut times = PointTimes::default();
    scratch.quantiles.clear();
    point_fields(buf, 7, 8, &mut scratch.point_attrs, &mut times, |reader, field, wire| {
        match field {
            4 => count = fixed64_field(reader, field, wire)?,
            5 => sum = f64::from_bits(fixed64_field(reader, field, wire)?),
            6 => {
                let (mut quantile, mut value) = (0.0, 0.0);
                fields(len_field(reader, field, wire)?, |q, field, wire| {
                    match field {
                        1 => quantile = f64::from_bits(fixed64_field(q, field, wire)?),
                        2 => value = f64::from_bits(fixed64_field(q, field, wire)?),
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                scratch.quantiles.push((quantile, value));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let point = SummaryPoint { times, count, sum, quantiles: &scratch.quantiles };
    visitor.summary_point(scratch.point_attrs.view(buf), &point)
}

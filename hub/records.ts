/**
 * The msgpack the hub keeps its own event values in (processed log, event store): msgpackr's record extension, so a
 * value names each field list once instead of in every event — about half the bytes of plain maps, as fast to
 * pack and about twice as fast to unpack. Every value carries its own record definitions (no shared table to keep),
 * and plain maps still decode, so values written before either switched read as before. The wire format stays plain
 * maps (common/codec/batch.ts), which any msgpack library reads.
 */
import { Packr } from 'msgpackr';

// mapsAsObjects: with records on, msgpackr would decode a plain map as a Map; the values of earlier versions are maps.
export const records = new Packr({ useRecords: true, mapsAsObjects: true, moreTypes: false });

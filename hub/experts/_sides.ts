/**
 * The field names experts read and write on either side of an event (source, destination), spelt out once. A key
 * built per event (`${side}.ip`) is a new string every time, which V8 must hash and look up in its string table
 * before it can find the property: in the CERT pipeline benchmark that was most of maxmind_geoip's cost per event.
 */
function keysOf<S extends 'source' | 'destination'>(side: S) {
  return {
    side,
    ip: `${side}.ip`,
    fqdn: `${side}.fqdn`,
    url: `${side}.url`,
    port: `${side}.port`,
    urlpath: `${side}.urlpath`,
    account: `${side}.account`,
    asn: `${side}.asn`,
    network: `${side}.network`,
    cc: `${side}.geolocation.cc`,
    latitude: `${side}.geolocation.latitude`,
    longitude: `${side}.geolocation.longitude`,
    city: `${side}.geolocation.city`,
  } as const;
}

export type SideKeys = ReturnType<typeof keysOf>;

export const SOURCE: SideKeys = keysOf('source');
export const DESTINATION: SideKeys = keysOf('destination');
/** Both sides, source first (the order the experts have always filled them in). */
export const SIDES: readonly SideKeys[] = [SOURCE, DESTINATION];

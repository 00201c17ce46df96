// DICOMweb (QIDO-RS / WADO-RS) helpers and DICOM JSON accessors. Same-origin requests only: the
// service's login cookie authenticates them.

export const UNCOMPRESSED = '1.2.840.10008.1.2.1';

export async function getJSON(url) {
  const response = await fetch(url, {
    credentials: 'same-origin',
    headers: { Accept: 'application/dicom+json, application/json' },
  });
  if (!response.ok) {
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  if (response.status === 204) {
    return [];
  }
  return response.json();
}

export function values(ds, tag) {
  const element = ds && ds[tag];
  return element && Array.isArray(element.Value) ? element.Value : [];
}

export function first(ds, tag) {
  return values(ds, tag)[0];
}

export function text(ds, tag) {
  const value = first(ds, tag);
  if (value === undefined || value === null) {
    return '';
  }
  if (typeof value === 'object' && value.Alphabetic !== undefined) {
    return String(value.Alphabetic);
  }
  return String(value);
}

export function numbers(ds, tag) {
  return values(ds, tag).map(Number);
}

// The first part of a multipart/related body (WADO-RS answers every retrieve that way), or the
// body itself when it is not multipart.
export function firstPart(contentType, bytes) {
  const match = /boundary="?([^";,]+)"?/i.exec(contentType || '');
  if (!/multipart\//i.test(contentType || '') || !match) {
    return bytes;
  }
  const boundary = new TextEncoder().encode(`--${match[1]}`);
  const start = indexOf(bytes, boundary, 0);
  if (start < 0) {
    return bytes;
  }
  const headerEnd = indexOf(bytes, new Uint8Array([13, 10, 13, 10]), start);
  const bodyStart = headerEnd + 4;
  let end = indexOf(bytes, boundary, bodyStart);
  if (end < 0) {
    end = bytes.length;
  }
  // the CRLF before the next boundary belongs to the delimiter
  if (end >= 2 && bytes[end - 2] === 13 && bytes[end - 1] === 10) {
    end -= 2;
  }
  return bytes.subarray(bodyStart, end);
}

function indexOf(bytes, needle, from) {
  outer: for (let i = from; i <= bytes.length - needle.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) {
      if (bytes[i + j] !== needle[j]) {
        continue outer;
      }
    }
    return i;
  }
  return -1;
}

// A DICOM Part 10 instance (bytes) by WADO-RS, asking for an uncompressed transfer syntax.
export async function retrieveInstance(url) {
  const response = await fetch(url, {
    credentials: 'same-origin',
    headers: {
      Accept: `multipart/related; type="application/dicom"; transfer-syntax=${UNCOMPRESSED}, ` +
        'multipart/related; type="application/dicom", application/dicom',
    },
  });
  if (!response.ok) {
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return firstPart(response.headers.get('Content-Type'), bytes);
}

// Unit vector along the slice normal of an ImageOrientationPatient, or null.
export function sliceNormal(iop) {
  if (!iop || iop.length !== 6) {
    return null;
  }
  const [a, b, c, d, e, f] = iop;
  return [b * f - c * e, c * d - a * f, a * e - b * d];
}

export function dot(u, v) {
  return u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
}

// Findings of a DICOM Structured Report, read from its WADO-RS metadata (DICOM JSON): qualitative
// evaluations (CODE), text (TEXT) and measurements (NUM), walked through the content tree.
import { first, text, values } from './dicomweb.js';

const CONTENT = '0040A730';
const VALUE_TYPE = '0040A040';
const CONCEPT_NAME = '0040A043';
const CONCEPT_CODE = '0040A168';
const TEXT_VALUE = '0040A160';
const MEASURED = '0040A300';
const NUMERIC = '0040A30A';
const UNITS = '004008EA';
const MEANING = '00080104';
const CODE_VALUE = '00080100';

function meaning(ds, tag) {
  return text(first(ds, tag), MEANING);
}

export function srFindings(instance, limit = 40) {
  const out = [];
  const walk = (items, depth) => {
    for (const entry of items) {
      if (out.length >= limit || depth > 12) {
        return;
      }
      const type = text(entry, VALUE_TYPE);
      const name = meaning(entry, CONCEPT_NAME);
      if (type === 'CODE') {
        const value = meaning(entry, CONCEPT_CODE);
        if (!/^(procedure reported|language|country|observer type|finding site)/i.test(name)) {
          out.push({ kind: 'evaluation', label: value || name, name });
        }
      } else if (type === 'TEXT') {
        const value = text(entry, TEXT_VALUE);
        if (!/tracking|observer|device|uid/i.test(name)) {
          out.push({ kind: 'text', label: `${name}: ${value}`, name });
        }
      } else if (type === 'NUM') {
        const measured = first(entry, MEASURED);
        const value = text(measured, NUMERIC);
        const unit = text(first(measured, UNITS), CODE_VALUE);
        out.push({ kind: 'measurement', label: `${name} = ${value}${unit && unit !== '1' ? ` ${unit}` : ''}`, name });
      }
      walk(values(entry, CONTENT), depth + 1);
    }
  };
  walk(values(instance, CONTENT), 0);
  return out;
}

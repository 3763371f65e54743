/**
 * Source texts for the benchmark: deterministic, different for every task, English (eSpeak
 * `en-us`), sized so that the narration lasts about as long as asked. eSpeak speaks English at
 * about 3.5 words per second here (measured by `npx tsx bench/calibrate-narration.ts`), so a 20 s
 * narration is about 70 words.
 */

const SUBJECTS = [
  'The old lighthouse keeper',
  'A young baker from the valley',
  'The river ferry captain',
  'A curious fox',
  'The village librarian',
  'A retired train driver',
  'The night market cook',
  'A quiet beekeeper',
  'The mountain guide',
  'A travelling violinist',
  'The harbour pilot',
  'A stubborn goat',
];
const ACTIONS = [
  'walked along the shore before sunrise',
  'counted the boats that came home late',
  'baked bread for the whole street',
  'found a letter hidden in a drawer',
  'repaired the clock above the station',
  'planted apple trees on the hill',
  'taught the children to read the stars',
  'carried water up the narrow stairs',
  'waited for the first snow of winter',
  'painted the gate a bright shade of blue',
  'listened to the rain on the roof',
  'followed the path into the forest',
];
const ENDINGS = [
  'and nobody in town ever forgot it.',
  'and the evening grew calm again.',
  'and everyone gathered to watch.',
  'and the story travelled far beyond the hills.',
  'and the morning light filled the square.',
  'and the work was finally done.',
  'and a small crowd began to cheer.',
  'and the old road looked new once more.',
];

/** English words per second of eSpeak NG at the pipeline's default rate (measured, see the file comment). */
export const ESPEAK_EN_WORDS_PER_SECOND = 3.5;

/** A source text of about `seconds` of narration, different for each `index`. */
export function narrationSource(index: number, seconds: number): string {
  const targetWords = Math.max(3, Math.round(seconds * ESPEAK_EN_WORDS_PER_SECOND));
  const sentences: string[] = [];
  let words = 0;
  // Whole sentences; stop within about half a sentence of the target.
  for (let k = 0; words < targetWords - 6; k++) {
    const n = index * 7 + k * 3;
    const sentence = `${SUBJECTS[n % SUBJECTS.length]} ${ACTIONS[(n + index) % ACTIONS.length]} ${ENDINGS[(n + k) % ENDINGS.length]}`;
    sentences.push(sentence);
    words += sentence.split(/\s+/).length;
  }
  return sentences.join(' ');
}

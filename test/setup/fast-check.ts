import fc from 'fast-check';

/**
 * Property tests are deterministic: the same seed on every run unless FC_SEED says otherwise
 * (FC_SEED=random explores new cases). A failure prints its seed and path to replay it.
 */
const given = process.env.FC_SEED;
if (given !== 'random') fc.configureGlobal({ seed: given === undefined ? 20_261_125 : Number(given) });

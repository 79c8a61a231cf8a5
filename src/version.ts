/** podium's version, reported in logs and the User-Agent of its API requests. */
export const VERSION = "0.1.0";

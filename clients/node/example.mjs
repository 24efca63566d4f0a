// Score a few texts with a running `sentikit serve`.
// Usage: node example.mjs [URL]   (SENTIKIT_API_KEY is sent when set)
import { createClient, SentikitError } from "./sentikit.mjs";

const client = createClient({
  url: process.argv[2] || process.env.SENTIKIT_URL || "http://127.0.0.1:8000",
  apiKey: process.env.SENTIKIT_API_KEY,
});

try {
  const info = await client.model();
  console.log(`model ${info.reference}`);
  console.log("analyze:", await client.analyze("The host was lovely and the flat spotless"));
  const texts = ["Great service, would come back", "The room was dirty and the staff rude"];
  const scores = await client.score(texts);
  texts.forEach((text, i) => console.log(scores[i].toFixed(3), text));
} catch (error) {
  if (!(error instanceof SentikitError)) throw error;
  console.error(`error: ${error.message}`);
  process.exit(1);
}

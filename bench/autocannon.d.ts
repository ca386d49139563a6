/**
 * The part of autocannon's programmatic API the benchmarks use (the package ships no types, and
 * @types/autocannon would be one more dependency for five fields).
 */
declare module "autocannon" {
  interface Options {
    url: string;
    method?: "GET" | "POST" | "PUT";
    headers?: Record<string, string>;
    body?: string;
    connections?: number;
    duration?: number;
  }

  interface Histogram {
    average: number;
    p50: number;
    p99: number;
  }

  interface Result {
    requests: Histogram;
    latency: Histogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    "2xx": number;
  }

  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}

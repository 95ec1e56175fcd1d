import { defineConfig } from "vite";

// The dev server runs on http://localhost:5173, the origin the README tells CityServe to allow
// (CITYSERVE_CORS_ALLOWED_ORIGINS=http://localhost:5173).
export default defineConfig({
  server: { port: 5173, strictPort: true },
  build: { target: "es2022" },
});

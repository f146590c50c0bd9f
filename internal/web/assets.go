package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Assets are served at /assets/<version>/<file>, where version is a short
// hash of all the static files: a new build gets new URLs, so the files can
// be cached for a year. One version for all files keeps relative ES-module
// imports (app.js → ./govuk-frontend.min.js) working.
const (
	assetPrefix  = "/assets/"
	assetRoute   = assetPrefix + ":version/*"
	assetCaching = "public, max-age=31536000, immutable"
)

type asset struct {
	body        []byte
	contentType string
}

type assets struct {
	version string
	files   map[string]asset
}

func (a *assets) has(name string) bool {
	_, ok := a.files[name]
	return ok
}

var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".webp": "image/webp",
}

// loadAssets reads every file of fsys into memory (they are small and
// embedded anyway) and hashes them all into one version.
func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{files: make(map[string]asset)}
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("web: static/%s: no content type for %q", p, path.Ext(p))
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		a.files[p] = asset{body: body, contentType: ct}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load assets: %w", err)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(a.files[n].body))
		h.Write(a.files[n].body)
	}
	a.version = hex.EncodeToString(h.Sum(nil))[:12]
	return a, nil
}

// AssetPath returns the URL path of a static file, e.g.
// "/assets/3f9a0c1b2d4e/govuk.css". It does not check that the file exists
// (the templates' asset function does).
func (s *Site) AssetPath(name string) string {
	return assetPrefix + s.assets.version + "/" + strings.TrimPrefix(name, "/")
}

// AssetVersion returns the current asset version (a short content hash).
func (s *Site) AssetVersion() string {
	return s.assets.version
}

func (s *Site) serveAsset(c *fiber.Ctx) error {
	if c.Params("version") != s.assets.version {
		return fiber.ErrNotFound
	}
	f, ok := s.assets.files[c.Params("*")]
	if !ok {
		return fiber.ErrNotFound
	}
	// Set here, after any middleware's no-store, so it wins.
	c.Set(fiber.HeaderCacheControl, assetCaching)
	c.Set(fiber.HeaderContentType, f.contentType)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(f.body)
}
